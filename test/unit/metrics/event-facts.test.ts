import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { cellFactKey, cellFacts } from '../../../src/metrics/cells.js';
import { alikeLatest, countedEvent, directFacts, historyFacts, historyFactsOf, readyObservation, type CountedEvent } from '../../../src/metrics/event-facts.js';
import type { VersionHistoryEvent } from '../../../src/metrics/launch-rules.js';
import { bucketStart, GRANULARITIES } from '../../../src/metrics/metric-definitions.js';
import { EVENT_TYPES } from '../../../src/ingest/stored-event.js';
import { storedEvent } from './event-fixtures.js';

const T0 = Date.UTC(2026, 10, 26, 22, 58, 0);

/** Every counter unit the events' direct facts claim. */
function units(events: readonly CountedEvent[]): Set<string> {
  return new Set(events.flatMap((e) => directFacts(e).flatMap((f) => cellFacts(f).map(cellFactKey))));
}

/** Per bucket and device, the app_ready the adoption register ends with (latest, ties by version then channel). */
function registers(events: readonly CountedEvent[]): Map<string, string> {
  const out = new Map<string, { at: number; tag: string }>();
  for (const o of events.map(readyObservation)) {
    if (!o) continue;
    for (const g of GRANULARITIES) {
      const key = `${o.appId}|${g}|${bucketStart(o.at, g)}|${o.pid}`;
      const tag = `${o.version}|${o.channel}`;
      const current = out.get(key);
      if (!current || o.at > current.at || (o.at === current.at && tag > current.tag)) out.set(key, { at: o.at, tag });
    }
  }
  return new Map([...out].map(([key, { at, tag }]) => [key, `${at}|${tag}`]));
}

describe('alikeLatest', () => {
  it('keeps the latest event of each device, type, version, channel, platform and minute', () => {
    const events = [
      storedEvent({ device: 'a', type: 'app_ready', at: T0 + 1_000 }),
      storedEvent({ device: 'a', type: 'app_ready', at: T0 + 9_000 }),
      storedEvent({ device: 'a', type: 'app_ready', at: T0 + 5_000 }),
      storedEvent({ device: 'a', type: 'app_ready', at: T0 + 61_000 }), // the next minute
      storedEvent({ device: 'a', type: 'crash', at: T0 + 2_000 }),
      storedEvent({ device: 'a', type: 'app_ready', at: T0 + 3_000, version: '9.9.9' }),
      storedEvent({ device: 'b', type: 'app_ready', at: T0 + 4_000 }),
    ].map(countedEvent);
    const kept = alikeLatest(events).map((e) => `${e.type} ${e.version} ${e.at - T0}`);
    expect(kept.sort()).toEqual(['app_ready 1.0.0 4000', 'app_ready 1.0.0 61000', 'app_ready 1.0.0 9000', 'app_ready 9.9.9 3000', 'crash 1.0.0 2000'].sort());
  });

  it('claims the same counter units and ends in the same adoption registers as every event would', () => {
    // Few devices, versions and channels, and mostly a few minutes: many events share a group.
    const event = fc.record({
      device: fc.constantFrom('a', 'b'),
      type: fc.oneof(fc.constant('app_ready' as const), fc.constantFrom(...EVENT_TYPES)),
      at: fc.oneof(fc.integer({ min: 0, max: 180_000 }), fc.integer({ min: 0, max: 3 * 3_600_000 })).map((ms) => T0 + ms),
      version: fc.constantFrom('1.0.0', '1.1.0'),
      channel: fc.constantFrom('production', 'beta'),
    });
    fc.assert(
      fc.property(fc.array(event, { minLength: 10, maxLength: 120 }), (specs) => {
        // A device keeps its platform.
        const events = specs.map((spec) => countedEvent(storedEvent({ ...spec, platform: spec.device === 'a' ? 'ios' : 'android' })));
        const kept = alikeLatest(events);
        expect(units(kept)).toEqual(units(events));
        expect(registers(kept)).toEqual(registers(events));
      }),
      { numRuns: 300 },
    );
  });
});

describe('historyFactsOf', () => {
  it('finds what historyFacts finds for each crash and rollback, reporting each failed launch once', () => {
    const entry = fc.record({
      type: fc.constantFrom('installed' as const, 'app_ready' as const, 'crash' as const, 'rolled_back' as const),
      at: fc.integer({ min: 0, max: 40 * 60_000 }).map((ms) => T0 + ms),
    });
    fc.assert(
      fc.property(fc.array(entry, { minLength: 1, maxLength: 40 }), fc.integer({ min: 0, max: 60 * 60_000 }), (entries, later) => {
        // One device-version: every crash and rollback shares the one history array, as LaunchHistory.read gives it.
        const history: VersionHistoryEvent[] = [...entries].sort((a, b) => a.at - b.at);
        const deciding = history
          .filter((h) => h.type === 'crash' || h.type === 'rolled_back')
          .map((h) => countedEvent(storedEvent({ device: 'a', type: h.type, at: h.at, version: '1.1.0', platform: 'ios' })));
        const now = T0 + later;
        const once = historyFactsOf(deciding, deciding.map(() => history), now);
        const each = deciding.flatMap((e) => historyFacts(e, history, now));
        expect(new Set(once.map((f) => JSON.stringify(f)))).toEqual(new Set(each.map((f) => JSON.stringify(f))));
        const failures = once.filter((f) => f.field === 'laFail').map((f) => f.at);
        expect(new Set(failures).size).toBe(failures.length);
      }),
      { numRuns: 300 },
    );
  });

  it('keeps devices apart: a failure found in one history is not dropped from another', () => {
    // Two arrays with equal contents: two device-versions' histories.
    const history = (): VersionHistoryEvent[] => [
      { type: 'installed', at: T0 },
      { type: 'crash', at: T0 + 1000 },
    ];
    const crashOf = (device: string) => countedEvent(storedEvent({ device, type: 'crash', at: T0 + 1000, version: '1.1.0', platform: 'ios' }));
    const facts = historyFactsOf([crashOf('a'), crashOf('b')], [history(), history()], T0 + 60_000);
    expect(facts.filter((f) => f.field === 'laFail').map((f) => f.pid)).toEqual([crashOf('a').pid, crashOf('b').pid]);
  });
});
