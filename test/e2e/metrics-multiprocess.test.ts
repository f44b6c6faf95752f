import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.js';
import type { StoredEvent } from '../../src/ingest/stored-event.js';
import { countedEvent } from '../../src/metrics/event-facts.js';
import { countExactly } from '../../src/metrics/exact-counts.js';
import { ALL, cellId, COUNTER_FIELDS, type CounterValues } from '../../src/metrics/metric-definitions.js';
import { createTwoProcesses, type TestContext } from '../helpers/test-context.js';
import { minutes, prng, randomStream, storedEvent } from '../unit/metrics/event-fixtures.js';

const NOW = Date.parse('2026-01-15T12:00:00.000Z');
const DAY = Date.parse('2026-01-15T00:00:00.000Z');
const clock = new ManualClock(NOW);
let one: TestContext;
let two: TestContext;
let closeBoth: () => Promise<void>;

beforeAll(async () => {
  ({ one, two, close: closeBoth } = await createTwoProcesses({ clock }));
});
afterAll(async () => {
  await closeBoth();
});

/** Each event goes to one of the two processes at random, interleaved, and both flush concurrently. */
async function ingestAcrossProcesses(events: readonly StoredEvent[], seed: number): Promise<void> {
  const rnd = prng(seed);
  await one.container.mongo.collection<StoredEvent>('events').insertMany([...events]);
  for (let i = 0; i < events.length; i += 25) {
    const chunk = events.slice(i, i + 25);
    const forOne = chunk.filter(() => rnd() < 0.5);
    const forTwo = chunk.filter((e) => !forOne.includes(e));
    one.container.deviceMetrics.aggregator.onAccepted(forOne);
    two.container.deviceMetrics.aggregator.onAccepted(forTwo);
    if (i % 100 === 0) await Promise.all([one.container.deviceMetrics.aggregator.flush(), two.container.deviceMetrics.aggregator.flush()]);
  }
  await Promise.all([one.container.deviceMetrics.aggregator.flush(), two.container.deviceMetrics.aggregator.flush()]);
}

function meaning(v: CounterValues): Record<string, number> {
  const out: Record<string, number> = {};
  for (const f of COUNTER_FIELDS) if (f !== 'runIn' && f !== 'runOut' && v[f]) out[f] = v[f]!;
  const running = Math.max(0, (v.runIn ?? 0) - (v.runOut ?? 0));
  if (running) out.running = running;
  return out;
}

async function storedCells(appId: string): Promise<Map<string, Record<string, number>>> {
  const rows = await one.container.deviceMetrics.counters.findRange(appId, DAY, DAY + 86_400_000);
  const cells = rows.map((r): [string, Record<string, number>] => [cellId(r.cell), meaning(r.values)]);
  return new Map(cells.filter(([, m]) => Object.keys(m).length > 0));
}

describe('two processes counting the same devices', () => {
  it('count every device once, exactly as a recount of the raw events does', async () => {
    const { appId } = await one.createApp('com.test.twoprocs');
    const events = randomStream(7, { appId, devices: 60, start: NOW - minutes(60), spanMinutes: 45 });
    // Every event delivered to both processes as well: worst-case duplicate delivery across processes.
    await ingestAcrossProcesses(events, 11);
    one.container.deviceMetrics.aggregator.onAccepted(events);
    two.container.deviceMetrics.aggregator.onAccepted(events);
    await Promise.all([one.container.deviceMetrics.aggregator.flush(), two.container.deviceMetrics.aggregator.flush()]);
    await Promise.all([one.container.deviceMetrics.launchTimeouts.run(), two.container.deviceMetrics.launchTimeouts.run()]);

    const exact = countExactly(events.map(countedEvent), { from: DAY, to: DAY + 86_400_000 }, NOW);
    const want = new Map([...exact.cells].map(([id, c]) => [id, meaning(c.values)]));
    const have = await storedCells(appId);
    expect(Object.fromEntries(have)).toEqual(Object.fromEntries(want));

    const dayCell = exact.cells.get(cellId({ appId, g: 'day', t: DAY, channel: ALL, platform: 'ios', version: '1.1.0' }));
    expect(dayCell?.values.laFail ?? 0).toBeGreaterThan(0); // the stream really exercises launch failures

    const devices = new Set(events.map((e) => e.pid)).size;
    const api = await one.http.get(`/v1/apps/${appId}/metrics`).set(one.admin);
    expect(api.body.activeDevices).toBe(devices);
    const viaTwo = await two.http.get(`/v1/apps/${appId}/metrics`).set(two.admin);
    expect(viaTwo.body).toEqual(api.body);
  });

  it('count a device whose app_ready events reach different processes for its latest version only', async () => {
    const { appId } = await one.createApp('com.test.twoprocs.switch');
    const first = storedEvent({ appId, device: 'x', type: 'app_ready', at: NOW - minutes(5), version: '1.0.0' });
    const second = storedEvent({ appId, device: 'x', type: 'app_ready', at: NOW - minutes(4), version: '1.1.0' });
    await one.container.mongo.collection<StoredEvent>('events').insertMany([first, second]);
    // The later confirmation is counted first, by the other process.
    two.container.deviceMetrics.aggregator.onAccepted([second]);
    await two.container.deviceMetrics.aggregator.flush();
    one.container.deviceMetrics.aggregator.onAccepted([first]);
    await one.container.deviceMetrics.aggregator.flush();
    const body = (await one.http.get(`/v1/apps/${appId}/metrics`).set(one.admin)).body;
    const running = Object.fromEntries(body.versions.map((v: { version: string; runningDevices: number }) => [v.version, v.runningDevices]));
    expect(running).toEqual({ '1.0.0': 0, '1.1.0': 1 });
    expect(body.activeDevices).toBe(1);
  });
});
