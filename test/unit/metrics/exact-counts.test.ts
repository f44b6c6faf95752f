import { describe, expect, it } from 'vitest';
import { countedEvent } from '../../../src/metrics/event-facts.js';
import { countExactly } from '../../../src/metrics/exact-counts.js';
import { ALL, cellId, type CounterValues, type Granularity } from '../../../src/metrics/metric-definitions.js';
import { minutes, storedEvent, type EventSpec } from './event-fixtures.js';

const T0 = Date.parse('2026-01-15T12:00:00Z');
const DAY = Date.parse('2026-01-15T00:00:00Z');
const at = (m: number): number => T0 + minutes(m);
const LATER = at(24 * 60);

function count(specs: EventSpec[], now = LATER) {
  const events = specs.map((s) => countedEvent(storedEvent(s)));
  return countExactly(events, { from: DAY, to: DAY + 86_400_000 }, now);
}

function values(
  result: ReturnType<typeof count>,
  where: { g?: Granularity; t?: number; channel?: string; platform?: string; version?: string },
): CounterValues {
  const id = cellId({
    appId: 'com.test.metrics',
    g: where.g ?? 'day',
    t: where.t ?? DAY,
    channel: where.channel ?? ALL,
    platform: where.platform ?? 'ios',
    version: where.version ?? '1.0.0',
  });
  return result.cells.get(id)?.values ?? {};
}

describe('exact device counts', () => {
  it('counts a crash-looping device once per bucket, however many crashes it sends', () => {
    const crashes = Array.from({ length: 10 }, (_, i) => ({ device: 'a', type: 'crash' as const, at: at(i * 0.05) }));
    const r = count([...crashes, { device: 'b', type: 'crash', at: at(0) }]);
    expect(values(r, {}).crash).toBe(2);
    expect(values(r, { g: 'minute', t: at(0) }).crash).toBe(2);
    // ...but once in each minute it crashed in.
    const spread = count([
      { device: 'a', type: 'crash', at: at(0) },
      { device: 'a', type: 'crash', at: at(1) },
    ]);
    expect(values(spread, { g: 'minute', t: at(0) }).crash).toBe(1);
    expect(values(spread, { g: 'minute', t: at(1) }).crash).toBe(1);
    expect(values(spread, { g: 'hour', t: at(0) }).crash).toBe(1);
  });

  it('counts a device once across channels in the all-channels row, once per channel in channel rows', () => {
    const r = count([
      { device: 'a', type: 'app_ready', at: at(0), channel: 'beta' },
      { device: 'a', type: 'app_ready', at: at(5), channel: 'production' },
    ]);
    expect(values(r, {}).active).toBe(1);
    expect(values(r, { channel: 'beta' }).active).toBe(1);
    expect(values(r, { channel: 'production' }).active).toBe(1);
    expect(values(r, { version: ALL }).active).toBe(1);
  });

  it('counts a device as running the version of its latest app_ready in the bucket', () => {
    const r = count([
      { device: 'a', type: 'app_ready', at: at(0), version: '1.0.0' },
      { device: 'a', type: 'app_ready', at: at(30), version: '1.1.0' },
      { device: 'b', type: 'app_ready', at: at(10), version: '1.0.0' },
      { device: 'c', type: 'download_started', at: at(10), version: '1.1.0' },
    ]);
    expect(values(r, { version: '1.0.0' }).runIn).toBe(1); // b only: a moved on
    expect(values(r, { version: '1.1.0' }).runIn).toBe(1); // a
    expect(values(r, { version: '1.1.0' }).active).toBe(2); // a and c sent events about it
    expect(values(r, { version: ALL }).active).toBe(3);
    // In the minute of a's first app_ready it still ran 1.0.0.
    expect(values(r, { g: 'minute', t: at(0), version: '1.0.0' }).runIn).toBe(1);
  });

  it('puts launch failures in the bucket of the install, beside its exposure', () => {
    const r = count([
      { device: 'crashes', type: 'installed', at: at(0.5) },
      { device: 'crashes', type: 'crash', at: at(1.2) },
      { device: 'silent', type: 'installed', at: at(0.2) },
      { device: 'fine', type: 'installed', at: at(0.1) },
      { device: 'fine', type: 'app_ready', at: at(1) },
      { device: 'fine', type: 'crash', at: at(2) },
    ]);
    const minute0 = values(r, { g: 'minute', t: at(0) });
    expect(minute0.laExp).toBe(3);
    expect(minute0.laFail).toBe(2); // crash before app_ready, and no app_ready within 10 minutes
    expect(values(r, { g: 'minute', t: at(1) }).laFail ?? 0).toBe(0);
    expect(values(r, {}).crash).toBe(2);
  });

  it('does not apply the 10-minute rule before the window has passed', () => {
    const r = count([{ device: 'silent', type: 'installed', at: at(0) }], at(5));
    expect(values(r, {}).laExp).toBe(1);
    expect(values(r, {}).laFail ?? 0).toBe(0);
  });

  it('counts a rollback against the version rolled back from, in its install bucket', () => {
    const r = count([
      { device: 'a', type: 'installed', at: at(0), version: '1.1.0' },
      { device: 'a', type: 'rolled_back', at: at(3), version: '1.0.0', fromVersion: '1.1.0' },
      { device: 'b', type: 'rolled_back', at: at(3), version: '1.1.0' },
    ]);
    expect(values(r, { g: 'minute', t: at(0), version: '1.1.0' })).toMatchObject({ rb: 1, laExp: 1, laFail: 1 });
    // b: no install seen, so the rollback lands in its own bucket and joins launch exposure there.
    expect(values(r, { g: 'minute', t: at(3), version: '1.1.0' })).toMatchObject({ rb: 1, laExp: 1 });
    expect(values(r, { version: '1.1.0' }).rb).toBe(2);
    expect(values(r, { version: '1.0.0' }).rb ?? 0).toBe(0);
  });

  it('keeps failing devices a subset of exposed devices for every failure metric', () => {
    const r = count([
      { device: 'a', type: 'download_failed', at: at(0) },
      { device: 'b', type: 'install_failed', at: at(0) },
      { device: 'c', type: 'crash', at: at(0) },
      { device: 'd', type: 'rolled_back', at: at(0) },
    ]);
    for (const { values: v } of r.cells.values()) {
      expect(v.dlFail ?? 0).toBeLessThanOrEqual(v.dlExp ?? 0);
      expect(v.inFail ?? 0).toBeLessThanOrEqual(v.inExp ?? 0);
      expect(v.laFail ?? 0).toBeLessThanOrEqual(v.laExp ?? 0);
      expect(v.rb ?? 0).toBeLessThanOrEqual(v.laExp ?? 0);
      expect(v.crash ?? 0).toBeLessThanOrEqual(v.crExp ?? 0);
    }
    expect(values(r, {})).toMatchObject({ dlFail: 1, dlExp: 1, inFail: 1, inExp: 1, crash: 1, crExp: 1, rb: 1 });
  });

  it('counts only buckets inside the range it was asked for', () => {
    const r = count([
      { device: 'a', type: 'app_ready', at: DAY - minutes(1) },
      { device: 'b', type: 'app_ready', at: DAY + 86_400_000 },
    ]);
    expect(r.cells.size).toBe(0);
  });
});
