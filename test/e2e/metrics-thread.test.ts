import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StoredEvent } from '../../src/ingest/stored-event.js';
import { countedEvent } from '../../src/metrics/event-facts.js';
import { countExactly } from '../../src/metrics/exact-counts.js';
import { cellId } from '../../src/metrics/metric-definitions.js';
import { ThreadedAggregator } from '../../src/metrics/metrics-thread.js';
import { createTestContext, type TestContext } from '../helpers/test-context.js';
import { cellMeaning, minutes, randomStream, storedEvent } from '../unit/metrics/event-fixtures.js';

const DAY_MS = 86_400_000;
let ctx: TestContext;
let aggregator: ThreadedAggregator;

beforeAll(async () => {
  // No clock of the test's own: the container counts on the metrics thread (METRICS_THREAD defaults to on).
  ctx = await createTestContext();
  aggregator = ctx.container.deviceMetrics.aggregator as ThreadedAggregator;
});
afterAll(async () => {
  await ctx.close();
});

async function storedCells(appId: string, from: number, to: number): Promise<Map<string, Record<string, number>>> {
  const rows = await ctx.container.deviceMetrics.counters.findRange(appId, from, to);
  const cells = rows.map((r): [string, Record<string, number>] => [cellId(r.cell), cellMeaning(r.values)]);
  return new Map(cells.filter(([, m]) => Object.keys(m).length > 0));
}

async function counted(): Promise<number> {
  const text = await ctx.container.metrics.metrics();
  return Number(/^otaguard_metrics_events_counted_total (\d+)/m.exec(text)?.[1] ?? Number.NaN);
}

describe('the metrics thread', () => {
  it('is what an api process counts with by default', () => {
    expect(aggregator).toBeInstanceOf(ThreadedAggregator);
  });

  it('counts every device once, exactly as a recount of the raw events does, and reports to this process', async () => {
    const { appId } = await ctx.createApp('com.test.thread');
    const now = Date.now();
    const events = randomStream(5, { appId, devices: 40, start: now - minutes(60), spanMinutes: 30 });
    await ctx.container.mongo.collection<StoredEvent>('events').insertMany([...events]);
    const before = await counted();
    for (let i = 0; i < events.length; i += 25) aggregator.onAccepted(events.slice(i, i + 25));
    await aggregator.flush();
    await ctx.container.deviceMetrics.launchTimeouts.run();
    await aggregator.flush();

    const from = Math.floor((now - minutes(60)) / DAY_MS) * DAY_MS;
    const to = from + 2 * DAY_MS;
    const exact = countExactly(events.map(countedEvent), { from, to }, Date.now());
    const want = new Map([...exact.cells].map(([id, c]) => [id, cellMeaning(c.values)]));
    expect(want.size).toBeGreaterThan(0);
    expect(Object.fromEntries(await storedCells(appId, from, to))).toEqual(Object.fromEntries(want));
    // The thread's instruments reach this process's registry.
    expect((await counted()) - before).toBe(events.length);
    expect(aggregator.bufferedEvents).toBe(0);
  });

  it('is replaced when it dies, and the new thread counts', async () => {
    const { appId } = await ctx.createApp('com.test.thread.restart');
    const dead = aggregator.thread;
    await dead.terminate();
    const deadline = Date.now() + 15_000;
    while (aggregator.thread === dead && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(aggregator.thread).not.toBe(dead);

    const event = storedEvent({ appId, device: 'after-restart', type: 'app_ready', at: Date.now() - minutes(1), version: '2.0.0' });
    await ctx.container.mongo.collection<StoredEvent>('events').insertOne(event);
    aggregator.onAccepted([event]);
    await aggregator.flush();
    const body = (await ctx.http.get(`/v1/apps/${appId}/metrics`).set(ctx.admin)).body as { activeDevices: number };
    expect(body.activeDevices).toBe(1);
  });
});
