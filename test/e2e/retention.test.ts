import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWorkers, type Workers } from '../../jobs/worker.js';
import { PROCESSORS } from '../../jobs/processors.js';
import { eventDocId, eventIdOf, type StoredEvent } from '../../src/ingest/stored-event.js';
import { counterDocId } from '../../src/metrics/counter-store.js';
import { bucketStart, type Granularity } from '../../src/metrics/metric-definitions.js';
import { createTestContext, type TestContext } from '../helpers/test-context.js';
import { waitFor } from '../helpers/webhook-receiver.js';

/** The scheduled purge, run through the real `retention` job: per-app policy, run log, audit entry. */
let ctx: TestContext;
let workers: Workers;
const DAY = 86_400_000;
const LONG = 'com.retention.long';
const SHORT = 'com.retention.short';
const AGES = [100, 60, 10];
const COUNTERS: Array<[Granularity, number]> = [['minute', 8], ['minute', 6], ['hour', 91], ['hour', 89], ['day', 400]];

beforeAll(async () => {
  ctx = await createTestContext();
  await ctx.createApp(LONG);
  await ctx.createApp(SHORT);
  const db = ctx.container.mongo.db!;
  await db.collection('apps').updateOne({ _id: SHORT } as never, { $set: { retentionDays: 30 } });
  const now = Date.now();
  const events = [LONG, SHORT].flatMap((appId) =>
    AGES.flatMap((age) =>
      Array.from({ length: 5 }, (_, i) => ({
        _id: eventDocId(appId, 'f'.repeat(64), `age${age}-${i}`),
        appId,
        pid: 'f'.repeat(64),
        type: 'installed',
        version: '1.0.0',
        channel: 'production',
        platform: 'ios',
        occurredAt: new Date(now - age * DAY),
        receivedAt: new Date(now - age * DAY),
      })),
    ),
  );
  await db.collection('events').insertMany(events as never[]);
  await db.collection('privacy_request_claims').insertMany([
    { _id: 'expired', appId: LONG, pid: 'e'.repeat(64), type: 'access', requestId: 'prq_x', until: new Date(now - 1000) },
    { _id: 'live', appId: LONG, pid: 'd'.repeat(64), type: 'access', requestId: 'prq_y', until: new Date(now + DAY) },
  ] as never[]);
  // Counters by granularity and age in days: minute kept 7 days, hour 90, day for good (the defaults).
  const counter = (g: Granularity, ageDays: number): Record<string, unknown> => {
    const t = bucketStart(now - ageDays * DAY, g);
    return { _id: counterDocId(LONG, g, t), appId: LONG, g, t: new Date(t), c: { 'production|ios|1~0~0': { active: 1 } } };
  };
  await db.collection('metric_counters').insertMany(COUNTERS.map(([g, age]) => counter(g, age)) as never[]);
  workers = startWorkers(ctx.container, { retention: PROCESSORS.retention! });
});
afterAll(async () => {
  await workers?.close();
  await ctx?.close();
});

const ages = async (appId: string): Promise<number[]> => {
  const docs = await ctx.container.mongo.db!.collection('events').find({ appId }).toArray();
  return [...new Set(docs.map((d) => Number(eventIdOf(d as unknown as StoredEvent).replace(/^age(\d+)-.*/, '$1'))))].sort((a, b) => b - a);
};

describe('retention', () => {
  it('schedules the purge and the deadline check as repeatable jobs', async () => {
    const schedulers = await waitFor(async () => {
      const list = await ctx.container.queues.get('retention').getJobSchedulers();
      return list.length === 2 ? list : undefined;
    }, 10_000, 'job schedulers');
    expect(schedulers.map((s) => [s.key, s.pattern]).sort()).toEqual([
      ['privacy-deadlines', '*/15 * * * *'],
      ['retention-purge', '30 3 * * *'],
    ]);
  });

  it('purges raw events older than each app’s own policy and nothing younger', async () => {
    const job = await ctx.container.queues.get('retention').add('retention', { task: 'purge' });
    await waitFor(async () => ['completed', 'failed'].includes(await job.getState()), 30_000, 'purge job');
    expect(await job.getState()).toBe('completed');
    expect(await ages(LONG)).toEqual([60, 10]);
    expect(await ages(SHORT)).toEqual([10]);
    const claims = await ctx.container.mongo.db!.collection('privacy_request_claims').find({}).toArray();
    expect(claims.map((c) => c._id)).toEqual(['live']);
  });

  it('purges minute counters past 7 days and hour counters past 90, and keeps day counters', async () => {
    const left = await ctx.container.mongo.db!.collection('metric_counters').find({ appId: LONG }).toArray();
    // Whole days since the bucket's start (a day bucket starts at midnight UTC, so rounding would say 401
    // in the afternoon).
    const age = (t: Date): number => Math.floor((Date.now() - t.getTime()) / DAY);
    expect(left.map((d) => [d.g, age(d.t as Date)]).sort()).toEqual([['day', 400], ['hour', 89], ['minute', 6]]);
    // The metrics API refuses what is gone rather than reading it as no devices.
    const old = new Date(Date.now() - 8 * DAY).toISOString();
    const res = await ctx.http.get(`/v1/apps/${LONG}/metrics`).query({ bucket: 'minute', from: old }).set(ctx.admin);
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ code: 'validation_failed', details: { field: 'query.from' } });
  });

  it('records what it did: a run log and an audit entry', async () => {
    const res = await ctx.http.get('/v1/privacy/retention-runs').set(ctx.admin);
    expect(res.status).toBe(200);
    const [run] = res.body.runs as Array<{ id: string; purged: Array<{ collection: string; retentionDays: number; appIds: string[]; deleted: number; cutoff: string }>; claimsPurged: number }>;
    expect(run!.claimsPurged).toBe(1);
    const byDays = Object.fromEntries(run!.purged.filter((p) => p.collection === 'events').map((p) => [p.retentionDays, p]));
    expect(byDays[90]).toMatchObject({ collection: 'events', appIds: [LONG], deleted: 5 });
    expect(byDays[30]).toMatchObject({ collection: 'events', appIds: [SHORT], deleted: 10 });
    expect(Date.now() - Date.parse(byDays[30]!.cutoff)).toBeGreaterThan(30 * DAY - 60_000);
    const counters = run!.purged.filter((p) => p.collection === 'metric_counters');
    expect(counters.map((p) => [(p as { granularity?: string }).granularity, p.retentionDays, p.deleted])).toEqual([['minute', 7, 1], ['hour', 90, 1]]);
    expect(counters[0]!.appIds.sort()).toEqual([LONG, SHORT].sort());
    const audit = (await ctx.container.audit.find({ limit: 100 })).filter((e) => e.action === 'retention.purge');
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({ actor: 'system', target: `retention-run:${run!.id}` });
  });
});
