import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.js';
import type { StoredEvent } from '../../src/ingest/stored-event.js';
import { createTestContext, type TestContext } from '../helpers/test-context.js';
import { minutes, storedEvent, type EventSpec } from '../unit/metrics/event-fixtures.js';

const T0 = '2026-01-15T12:00:00.000Z';
const at = (m: number): number => Date.parse(T0) + minutes(m);
const clock = new ManualClock(at(30));
let ctx: TestContext;
let appSeq = 0;

beforeAll(async () => {
  ctx = await createTestContext({ clock });
});
afterAll(async () => {
  await ctx.close();
});

/** What ingest does for accepted events: durable write, then the listeners. */
async function accept(specs: Array<EventSpec | StoredEvent>): Promise<StoredEvent[]> {
  const events = specs.map((s) => ('_id' in s ? s : storedEvent(s)));
  if (events.length > 0) await ctx.container.mongo.collection<StoredEvent>('events').insertMany(events);
  for (const listener of ctx.container.acceptedEvents) listener.onAccepted(events);
  await ctx.container.deviceMetrics.aggregator.flush();
  return events;
}

async function newApp(): Promise<string> {
  const { appId } = await ctx.createApp(`com.test.metrics${++appSeq}`);
  return appId;
}

async function metrics(appId: string, query: Record<string, string> = {}) {
  const res = await ctx.http.get(`/v1/apps/${appId}/metrics`).query(query).set(ctx.admin);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body;
}

type Body = { versions: Array<{ version: string }> };
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- response bodies are checked field by field
const version = (body: Body, v: string) => body.versions.find((x) => x.version === v) as Record<string, any>;

describe('per-device counting', () => {
  it('counts ten crashes of one phone as one failing device, and a resent batch not at all', async () => {
    const appId = await newApp();
    const loop = Array.from({ length: 10 }, (_, i): EventSpec => ({ appId, device: 'looping', type: 'crash', at: at(i * 0.02) }));
    const batch = await accept([...loop, { appId, device: 'once', type: 'crash', at: at(0) }, { appId, device: 'fine', type: 'app_ready', at: at(0) }]);
    for (const listener of ctx.container.acceptedEvents) listener.onAccepted(batch); // delivered twice
    await ctx.container.deviceMetrics.aggregator.flush();

    const body = await metrics(appId);
    const v = version(body, '1.0.0');
    expect(v.failingDevices.crash).toBe(2);
    expect(v.exposedDevices.crash).toBe(3);
    expect(v.rates.crash).toBeCloseTo(2 / 3);
    expect(body.activeDevices).toBe(3);
    const minute = await metrics(appId, { bucket: 'minute' });
    expect(version(minute.series[0], '1.0.0').failingDevices.crash).toBe(2);
  });

  it('computes adoption from each active device’s latest app_ready', async () => {
    const appId = await newApp();
    await accept([
      { appId, device: 'a', type: 'app_ready', at: at(0), version: '1.1.0' },
      { appId, device: 'b', type: 'app_ready', at: at(0), version: '1.1.0' },
      { appId, device: 'c', type: 'app_ready', at: at(0), version: '1.0.0' },
      // d upgrades within the day: it runs 1.1.0 at the end of it.
      { appId, device: 'd', type: 'app_ready', at: at(1), version: '1.0.0' },
      { appId, device: 'd', type: 'app_ready', at: at(20), version: '1.1.0' },
      // e only downloads: active, but confirmed no version.
      { appId, device: 'e', type: 'download_started', at: at(2), version: '1.1.0' },
    ]);
    const body = await metrics(appId);
    expect(body.window).toMatchObject({ bucket: 'hour', summary: { granularity: 'day', buckets: 1, unit: 'devices' } });
    expect(body.activeDevices).toBe(5);
    expect(version(body, '1.1.0')).toMatchObject({ runningDevices: 3, adoption: 0.6, activeDevices: 4 });
    expect(version(body, '1.0.0')).toMatchObject({ runningDevices: 1, adoption: 0.2, activeDevices: 2 });
    // Per minute, d still ran 1.0.0 in the minute it confirmed it.
    const minute = await metrics(appId, { bucket: 'minute' });
    const m1 = minute.series.find((p: { start: string }) => p.start === new Date(at(1)).toISOString());
    expect(version(m1, '1.0.0')).toMatchObject({ runningDevices: 1, adoption: 1 });
  });
});

describe('failure definitions', () => {
  it('counts download, install, crash and rollback failures against their exposures', async () => {
    const appId = await newApp();
    await accept([
      { appId, device: 'a', type: 'download_started', at: at(0) },
      { appId, device: 'a', type: 'download_failed', at: at(0.5) },
      { appId, device: 'b', type: 'download_started', at: at(0) },
      { appId, device: 'b', type: 'download_completed', at: at(0.2) },
      { appId, device: 'b', type: 'install_failed', at: at(0.3) },
      { appId, device: 'c', type: 'installed', at: at(0) },
      { appId, device: 'c', type: 'app_ready', at: at(1) },
      { appId, device: 'c', type: 'rolled_back', at: at(15), version: '0.9.0', fromVersion: '1.0.0' },
    ]);
    const v = version(await metrics(appId), '1.0.0');
    expect(v.exposedDevices).toEqual({ download: 2, install: 2, launch: 1, crash: 1 });
    expect(v.failingDevices).toEqual({ download: 1, install: 1, launch: 0, crash: 0, rollback: 1 });
    expect(v.rates).toMatchObject({ download: 0.5, install: 0.5, launch: 0, rollback: 1 });
  });

  it('counts a crash or rollback before app_ready as a launch failure within a second', async () => {
    const appId = await newApp();
    await accept([
      { appId, device: 'crashes', type: 'installed', at: at(0) },
      { appId, device: 'rolls-back', type: 'installed', at: at(0) },
      { appId, device: 'fine', type: 'installed', at: at(0) },
      { appId, device: 'fine', type: 'app_ready', at: at(0.5) },
    ]);
    await accept([
      { appId, device: 'crashes', type: 'crash', at: at(1) },
      { appId, device: 'rolls-back', type: 'rolled_back', at: at(2) },
      { appId, device: 'fine', type: 'crash', at: at(2) },
    ]);
    const v = version(await metrics(appId), '1.0.0');
    expect(v.exposedDevices.launch).toBe(3);
    expect(v.failingDevices.launch).toBe(2);
    expect(v.failingDevices.crash).toBe(2);
    expect(v.rates.launch).toBeCloseTo(2 / 3);
  });

  it('applies the 10-minute missing-app_ready rule on the scheduled run, once', async () => {
    const appId = await newApp();
    clock.set(at(0));
    await accept([
      { appId, device: 'silent', type: 'installed', at: at(0) },
      { appId, device: 'late-ready', type: 'installed', at: at(0) },
      { appId, device: 'ready', type: 'installed', at: at(0) },
      { appId, device: 'ready', type: 'app_ready', at: at(9) },
    ]);
    const { launchTimeouts } = ctx.container.deviceMetrics;
    clock.set(at(10));
    expect(await launchTimeouts.run()).toEqual({ judged: 0, failed: 0 });
    await accept([{ appId, device: 'late-ready', type: 'app_ready', at: at(10.5) }]);
    clock.set(at(11.5));
    // Installs of earlier tests (other apps) fall due too, so only lower bounds here; the counts below are exact.
    const first = await launchTimeouts.run();
    expect(first.judged).toBeGreaterThanOrEqual(3);
    expect(first.failed).toBeGreaterThanOrEqual(2);
    expect(await launchTimeouts.run()).toEqual({ judged: 0, failed: 0 });
    const v = version(await metrics(appId), '1.0.0');
    expect(v.failingDevices.launch).toBe(2);
    expect(v.exposedDevices.launch).toBe(3);
    // The failure sits in the install's minute, beside its exposure.
    const minute = await metrics(appId, { bucket: 'minute', from: new Date(at(0)).toISOString(), to: new Date(at(1)).toISOString() });
    expect(version(minute, '1.0.0').failingDevices.launch).toBe(2);
    clock.set(at(30));
  });
});

describe('late events', () => {
  it('puts a late event in the bucket it occurred in, and leaves buckets past the live horizon to reconciliation', async () => {
    const appId = await newApp();
    clock.set(at(0));
    const threeHoursAgo = at(-180);
    await accept([{ appId, device: 'offline', type: 'crash', at: threeHoursAgo, receivedAt: at(0) }]);
    const hourly = await metrics(appId);
    expect(hourly.series.map((p: { start: string }) => p.start)).toEqual([new Date(Date.parse('2026-01-15T09:00:00Z')).toISOString()]);
    expect(version(hourly, '1.0.0').failingDevices.crash).toBe(1);
    const minuteWindow = { bucket: 'minute', from: new Date(threeHoursAgo).toISOString(), to: new Date(threeHoursAgo + minutes(1)).toISOString() };
    expect((await metrics(appId, minuteWindow)).series).toEqual([]);
    clock.set(at(1)); // past the settle time
    const reports = await ctx.container.deviceMetrics.reconciler.reconcileDirty();
    expect(reports.map((r) => r.appId)).toEqual([appId]);
    expect(version(await metrics(appId, minuteWindow), '1.0.0').failingDevices.crash).toBe(1);
    clock.set(at(30));
  });
});

describe('filters', () => {
  it('filters by channel, platform and version', async () => {
    const appId = await newApp();
    await accept([
      { appId, device: 'a', type: 'crash', at: at(0), channel: 'beta', platform: 'android', version: '2.0.0' },
      { appId, device: 'b', type: 'app_ready', at: at(0), channel: 'production', platform: 'ios', version: '1.0.0' },
      { appId, device: 'c', type: 'app_ready', at: at(0), channel: 'production', platform: 'android', version: '1.0.0' },
    ]);
    const beta = await metrics(appId, { channel: 'beta' });
    expect(beta.activeDevices).toBe(1);
    expect(beta.versions.map((v: { version: string }) => v.version)).toEqual(['2.0.0']);
    expect(beta.filters).toEqual({ channel: 'beta', version: null, platform: null });
    const android = await metrics(appId, { platform: 'android' });
    expect(android.activeDevices).toBe(2);
    expect(android.versions.map((v: { version: string }) => v.version).sort()).toEqual(['1.0.0', '2.0.0']);
    const onlyV1 = await metrics(appId, { version: '1.0.0' });
    expect(onlyV1.versions).toHaveLength(1);
    expect(onlyV1.versions[0]).toMatchObject({ version: '1.0.0', runningDevices: 2, adoption: 2 / 3 });
    expect(version(await metrics(appId, { channel: 'production', platform: 'ios' }), '1.0.0').activeDevices).toBe(1);
  });

  it('requires a channel-scoped key to name one of its channels', async () => {
    const appId = await newApp();
    const key = await ctx.http.post('/v1/api-keys').set(ctx.admin).send({ name: 'beta watcher', role: 'monitoring', channels: ['beta'] });
    expect(key.status, JSON.stringify(key.body)).toBe(201);
    const auth = { Authorization: `Bearer ${key.body.key ?? key.body.secret}` };
    expect((await ctx.http.get(`/v1/apps/${appId}/metrics`).set(auth)).status).toBe(403);
    expect((await ctx.http.get(`/v1/apps/${appId}/metrics?channel=production`).set(auth)).status).toBe(403);
    expect((await ctx.http.get(`/v1/apps/${appId}/metrics?channel=beta`).set(auth)).status).toBe(200);
  });
});

describe('invalid requests', () => {
  it('answers 400 naming the query field', async () => {
    const appId = await newApp();
    const cases: Array<[string, string]> = [
      ['from=yesterday', 'query.from'],
      ['to=2026-13-45T00:00:00Z', 'query.to'],
      ['bucket=week', 'query.bucket'],
      ['from=2026-01-15T12:00:00Z&to=2026-01-15T11:00:00Z', 'query.from'],
      ['bucket=minute&from=2026-01-13T00:00:00Z&to=2026-01-15T00:00:00Z', 'query.from'],
      ['platform=symbian', 'query.platform'],
      ['version=not%20a%20version', 'query.version'],
      ['limit=5', 'query.limit'],
    ];
    for (const [query, field] of cases) {
      const res = await ctx.http.get(`/v1/apps/${appId}/metrics?${query}`).set(ctx.admin);
      expect(res.status, query).toBe(400);
      expect(res.body.error.details.field, query).toBe(field);
    }
  });

  it('answers 401 without a key and 404 for an unknown app', async () => {
    expect((await ctx.http.get('/v1/apps/com.test.nothing/metrics')).status).toBe(401);
    const res = await ctx.http.get('/v1/apps/com.test.nothing/metrics').set(ctx.admin);
    expect(res.status).toBe(404);
  });
});

describe('never negative', () => {
  it('shows zero, not a negative count, while a version switch is half flushed, and reconciliation repairs it', async () => {
    const appId = await newApp();
    await accept([{ appId, device: 'a', type: 'app_ready', at: at(0), version: '1.0.0' }]);
    const counters = ctx.container.mongo.collection('metric_counters');
    // As if another process's runOut for 1.0.0 landed and this runIn had not yet.
    await counters.updateMany({ appId }, { $set: { 'c.*|ios|1~0~0.runIn': 0, 'c.*|ios|1~0~0.runOut': 1 } });
    const body = await metrics(appId);
    expect(version(body, '1.0.0').runningDevices).toBe(0);
    expect(JSON.stringify(body)).not.toMatch(/:-\d/);
    clock.set(at(31));
    const report = await ctx.container.deviceMetrics.reconciler.reconcileDay(appId, at(0));
    expect(report.corrected).toBeGreaterThan(0);
    expect(version(await metrics(appId), '1.0.0').runningDevices).toBe(1);
    const rows = await ctx.container.deviceMetrics.counters.findRange(appId, at(-720), at(720));
    expect(rows.length).toBeGreaterThan(0);
    expect(rows.flatMap((r) => Object.values(r.values)).every((v) => v >= 0)).toBe(true);
    clock.set(at(30));
  });
});
