import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.js';
import type { StoredEvent } from '../../src/ingest/stored-event.js';
import type { CounterStore } from '../../src/metrics/counter-store.js';
import { DeviceMarks } from '../../src/metrics/device-marks.js';
import { LaunchHistory } from '../../src/metrics/launch-history.js';
import { COUNTER_WRITE_MAX_DELAY_MS } from '../../src/metrics/counter-writer.js';
import { MetricsAggregator } from '../../src/metrics/metrics-aggregator.js';
import { createMetricsInstruments } from '../../src/metrics/metrics-instruments.js';
import { RedisMutex } from '../../src/metrics/redis-mutex.js';
import { createTestContext, type TestContext } from '../helpers/test-context.js';
import { minutes, storedEvent } from '../unit/metrics/event-fixtures.js';

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

/** An aggregator like the container's, over the same Redis and database, with parts a test can break. */
function aggregator(parts: { counters?: CounterStore; marks?: DeviceMarks; maxBufferedEvents?: number; databaseBusy?: () => boolean } = {}) {
  const { redis } = ctx.container;
  const prefix = ctx.config.queuePrefix;
  const registry = new Registry();
  const instruments = createMetricsInstruments(registry, async () => ({}) as never, () => 0);
  const agg = new MetricsAggregator({
    counters: parts.counters ?? ctx.container.deviceMetrics.counters,
    marks: parts.marks ?? new DeviceMarks(redis, prefix),
    history: new LaunchHistory(redis, prefix),
    writeLease: new RedisMutex(redis, `${prefix}:metrics:counter-write`),
    clock,
    logger: ctx.container.logger,
    instruments,
    flushIntervalMs: 1000,
    ...(parts.maxBufferedEvents !== undefined ? { maxBufferedEvents: parts.maxBufferedEvents } : {}),
    ...(parts.databaseBusy ? { databaseBusy: parts.databaseBusy } : {}),
  });
  return { agg, registry };
}

async function crashes(appId: string): Promise<number> {
  const res = await ctx.http.get(`/v1/apps/${appId}/metrics`).set(ctx.admin);
  return res.body.versions[0]?.failingDevices.crash ?? 0;
}

async function store(events: StoredEvent[]): Promise<StoredEvent[]> {
  await ctx.container.mongo.collection<StoredEvent>('events').insertMany(events);
  return events;
}

describe('metrics pipeline under failure', () => {
  it('keeps increments whose counter write failed and writes them once on the next flush', async () => {
    const { appId } = await ctx.createApp('com.test.resilience.write');
    const real = ctx.container.deviceMetrics.counters;
    let failures = 1;
    const flaky: CounterStore = {
      ...real,
      find: (q) => real.find(q),
      findRange: (...a) => real.findRange(...a),
      findBuckets: (c) => real.findBuckets(c),
      set: (r) => real.set(r),
      increment: async (rows) => {
        if (failures-- > 0) throw new Error('connection reset');
        return real.increment(rows);
      },
    };
    const { agg, registry } = aggregator({ counters: flaky });
    agg.onAccepted(await store([storedEvent({ appId, device: 'a', type: 'crash', at: NOW - minutes(1) })]));
    await agg.flush();
    expect(await crashes(appId)).toBe(0);
    await agg.flush(); // nothing new buffered: only the retry
    expect(await crashes(appId)).toBe(1);
    await agg.flush();
    expect(await crashes(appId)).toBe(1);
    expect(await registry.getSingleMetricAsString('otaguard_metrics_flushes_total')).toMatch(/result="error"} 1/);
  });

  it('keeps the events when Redis fails before anything was counted, and counts them on the next flush', async () => {
    const { appId } = await ctx.createApp('com.test.resilience.redis');
    const marks = new DeviceMarks(ctx.container.redis, ctx.config.queuePrefix);
    const claim = marks.claim.bind(marks);
    let failures = 1;
    marks.claim = async (...args) => {
      if (failures-- > 0) throw new Error('Connection is closed.');
      return claim(...args);
    };
    const { agg } = aggregator({ marks });
    agg.onAccepted(await store([storedEvent({ appId, device: 'a', type: 'crash', at: NOW - minutes(1) }), storedEvent({ appId, device: 'b', type: 'crash', at: NOW - minutes(1) })]));
    await agg.flush();
    expect(agg.bufferedEvents).toBe(2);
    await agg.flush();
    expect(agg.bufferedEvents).toBe(0);
    expect(await crashes(appId)).toBe(2);
  });

  it('queues the day of events it had no room for, and reconciliation counts them', async () => {
    const { appId } = await ctx.createApp('com.test.resilience.overflow');
    const { agg, registry } = aggregator({ maxBufferedEvents: 1 });
    agg.onAccepted(await store([storedEvent({ appId, device: 'a', type: 'crash', at: NOW - minutes(1) })]));
    agg.onAccepted(await store([storedEvent({ appId, device: 'b', type: 'crash', at: NOW - minutes(1) })])); // no room
    await agg.flush();
    expect(await crashes(appId)).toBe(1);
    expect(await registry.getSingleMetricAsString('otaguard_metrics_dropped_events_total')).toMatch(/ 1$/m);
    clock.set(NOW + 30_000);
    const reports = await ctx.container.deviceMetrics.reconciler.reconcileDirty();
    expect(reports).toEqual([expect.objectContaining({ appId, day: new Date(DAY).toISOString() })]);
    expect(await crashes(appId)).toBe(2);
    clock.set(NOW);
  });

  it('holds counter writes back while the database is busy, for at most a second, and writes them on close', async () => {
    const { appId } = await ctx.createApp('com.test.resilience.busy');
    let busy = false;
    const { agg } = aggregator({ databaseBusy: () => busy });
    const crash = async (device: string): Promise<void> => {
      agg.onAccepted(await store([storedEvent({ appId, device, type: 'crash', at: NOW - minutes(1) })]));
      await agg.flush();
    };
    await crash('a');
    expect(await crashes(appId)).toBe(1); // a quiet database: written at once

    busy = true;
    await crash('b');
    expect(await crashes(appId)).toBe(1); // counted, held back
    await new Promise((resolve) => setTimeout(resolve, COUNTER_WRITE_MAX_DELAY_MS + 50));
    await agg.flush();
    expect(await crashes(appId)).toBe(2); // still busy, but a second has passed

    await crash('c');
    expect(await crashes(appId)).toBe(2);
    await agg.close();
    expect(await crashes(appId)).toBe(3); // the last flush writes whatever the lane is doing
  });
});

describe('Prometheus', () => {
  it('exposes flush lag, flush counters and queue depths', async () => {
    const { appId } = await ctx.createApp('com.test.resilience.prom');
    const events = await store([storedEvent({ appId, device: 'a', type: 'app_ready', at: NOW - minutes(1) })]);
    ctx.container.acceptedEvents.forEach((l) => l.onAccepted(events));
    await ctx.container.deviceMetrics.aggregator.flush();
    const text = (await ctx.http.get('/metrics')).text;
    expect(Number(/otaguard_metrics_flush_lag_seconds_count (\d+)/.exec(text)?.[1])).toBeGreaterThan(0);
    expect(text).toMatch(/otaguard_metrics_flushes_total\{result="ok"\} [1-9]/);
    expect(text).toMatch(/otaguard_metrics_events_counted_total [1-9]/);
    expect(text).toMatch(/otaguard_queue_depth\{queue="metrics"\} \d+/);
    expect(text).toMatch(/otaguard_queue_depth\{queue="guard"\} \d+/);
  });
});
