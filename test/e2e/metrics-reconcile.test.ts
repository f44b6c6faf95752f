import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { metricsProcessor } from '../../jobs/metrics.js';
import { ManualClock } from '../../src/clock.js';
import type { StoredEvent } from '../../src/ingest/stored-event.js';
import { ALL, cellId } from '../../src/metrics/metric-definitions.js';
import { createTestContext, type TestContext } from '../helpers/test-context.js';
import { minutes, randomStream, storedEvent } from '../unit/metrics/event-fixtures.js';

const NOW = Date.parse('2026-01-15T12:00:00.000Z');
const DAY = Date.parse('2026-01-15T00:00:00.000Z');
const clock = new ManualClock(NOW);
let ctx: TestContext;

beforeAll(async () => {
  ctx = await createTestContext({ clock });
});
afterAll(async () => {
  await ctx.close();
});

const events = () => ctx.container.mongo.collection<StoredEvent>('events');
const dm = () => ctx.container.deviceMetrics;

async function accept(list: StoredEvent[]): Promise<void> {
  await events().insertMany(list);
  dm().aggregator.onAccepted(list);
  await dm().aggregator.flush();
}

async function dayMetrics(appId: string) {
  const res = await ctx.http.get(`/v1/apps/${appId}/metrics`).set(ctx.admin);
  expect(res.status).toBe(200);
  return res.body as { activeDevices: number; versions: Array<{ version: string; failingDevices: Record<string, number> }> };
}

describe('reconciliation', () => {
  it('finds nothing to correct after live counting, then finds and fixes tampered counters', async () => {
    const { appId } = await ctx.createApp('com.test.reconcile');
    await accept(randomStream(3, { appId, devices: 40, start: NOW - minutes(90), spanMinutes: 60 }));
    await dm().launchTimeouts.run();

    const clean = await dm().reconciler.reconcileDay(appId, DAY);
    expect(clean).toMatchObject({ corrected: 0, deferred: 0 });
    expect(clean.cells).toBeGreaterThan(100);
    const before = await dayMetrics(appId);

    const dayCell = { appId, g: 'day' as const, t: DAY, channel: ALL, platform: 'ios', version: '1.1.0' };
    const [row] = (await dm().counters.findBuckets([dayCell])).filter((r) => cellId(r.cell) === cellId(dayCell));
    expect(row?.values.crash).toBeGreaterThan(0);
    await dm().counters.set([
      { cell: dayCell, values: { ...row!.values, crash: 99 } }, // inflated
      { cell: { ...dayCell, platform: 'android' }, values: {} }, // lost
      { cell: { ...dayCell, version: '9.9.9' }, values: { active: 5, crash: 5 } }, // invented
    ]);
    const tampered = await dayMetrics(appId);
    expect(tampered.versions.find((v) => v.version === '1.1.0')?.failingDevices.crash).toBeGreaterThan(90);

    const fixed = await dm().reconciler.reconcileDay(appId, DAY);
    expect(fixed.corrected).toBe(3);
    expect(await dayMetrics(appId)).toEqual(before);
    expect((await dm().reconciler.reconcileDay(appId, DAY)).corrected).toBe(0);
  });

  it('counts events a crashed process never flushed, and later events of those devices only once', async () => {
    const { appId } = await ctx.createApp('com.test.reconcile.lost');
    // Stored by ingest, but the process died before its aggregator flushed them.
    await events().insertMany([
      storedEvent({ appId, device: 'a', type: 'crash', at: NOW - minutes(10) }),
      storedEvent({ appId, device: 'b', type: 'crash', at: NOW - minutes(10) }),
    ]);
    expect((await dayMetrics(appId)).activeDevices).toBe(0);
    await dm().reconciler.reconcileDay(appId, DAY);
    expect((await dayMetrics(appId)).versions[0]?.failingDevices.crash).toBe(2);
    // A's next crash in the same buckets reaches a live process: the device is already counted there.
    await accept([storedEvent({ appId, device: 'a', type: 'crash', at: NOW - minutes(10) + 5_000 })]);
    const body = await dayMetrics(appId);
    expect(body.activeDevices).toBe(2);
    expect(body.versions[0]?.failingDevices.crash).toBe(2);
  });

  it('leaves buckets with events received in the last seconds for the next pass', async () => {
    const { appId } = await ctx.createApp('com.test.reconcile.recent');
    await events().insertOne(storedEvent({ appId, device: 'a', type: 'crash', at: NOW - minutes(1), receivedAt: NOW }));
    const first = await dm().reconciler.reconcileDay(appId, DAY);
    expect(first.corrected).toBe(0);
    expect(first.deferred).toBeGreaterThan(0);
    clock.set(NOW + 20_000);
    expect((await dm().reconciler.reconcileDay(appId, DAY)).deferred).toBe(0);
    expect((await dayMetrics(appId)).versions[0]?.failingDevices.crash).toBe(1);
    clock.set(NOW);
  });

  it('runs from the metrics queue processor: per app, and the hourly fan-out', async () => {
    const { appId } = await ctx.createApp('com.test.reconcile.job');
    await events().insertOne(storedEvent({ appId, device: 'a', type: 'app_ready', at: NOW - minutes(5) }));
    const processor = metricsProcessor(ctx.container);
    const reports = (await processor({ task: 'reconcile', appId }, {} as never)) as Array<{ day: string; corrected: number }>;
    expect(reports.map((r) => r.day)).toEqual(['2026-01-14T00:00:00.000Z', '2026-01-15T00:00:00.000Z']);
    expect(reports[1]?.corrected).toBeGreaterThan(0);
    expect((await dayMetrics(appId)).activeDevices).toBe(1);
    await processor({ task: 'reconcile' }, {} as never);
    const queued = await ctx.container.queues.get('metrics').getJobs(['waiting', 'prioritized', 'delayed']);
    expect(queued.map((j) => j.data.appId)).toContain(appId);
    expect(await processor({ task: 'launch-timeouts' }, {} as never)).toMatchObject({ judged: expect.any(Number) });
  });

  it('does not write back minute counters the retention job has purged (older than 7 days)', async () => {
    const { appId } = await ctx.createApp('com.test.reconcile.purged');
    await events().insertOne(storedEvent({ appId, device: 'a', type: 'crash', at: NOW - minutes(10) }));
    await dm().reconciler.reconcileDay(appId, DAY);
    const granularities = async (): Promise<string[]> =>
      [...new Set((await ctx.container.mongo.collection('metric_counters').find({ appId }).toArray()).map((d) => String(d.g)))].sort();
    expect(await granularities()).toEqual(['day', 'hour', 'minute']);
    // Eight days on, the purge has deleted that day's minute documents; a late reconciliation leaves them gone.
    clock.set(NOW + 8 * 86_400_000);
    try {
      await dm().counters.purgeBefore('minute', NOW + 86_400_000);
      expect(await granularities()).toEqual(['day', 'hour']);
      expect((await dm().reconciler.reconcileDay(appId, DAY)).corrected).toBe(0);
      expect(await granularities()).toEqual(['day', 'hour']);
    } finally {
      clock.set(NOW);
    }
  });
});
