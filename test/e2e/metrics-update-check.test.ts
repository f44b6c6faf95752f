import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.js';
import { consent, event, postEvents } from '../helpers/ingest-fixtures.js';
import { createTwoProcesses, type TestContext } from '../helpers/test-context.js';

// Half a minute into the hour, so an event a few seconds earlier shares the check's minute bucket.
const NOW = Date.parse('2026-01-15T12:00:30.000Z');
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

type Version = {
  version: string;
  activeDevices: number;
  runningDevices: number;
  failingDevices: Record<string, number>;
  exposedDevices: Record<string, number>;
};
type Body = { activeDevices: number; versions: Version[]; series: Array<{ start: string; activeDevices: number; versions: Version[] }> };

async function check(ctx: TestContext, ingest: { Authorization: string }, deviceId: string, currentVersion: string): Promise<void> {
  const res = await ctx.http
    .post('/v1/update-check')
    .set(ingest)
    .send({ deviceId, channel: 'production', platform: 'android', currentVersion, nativeVersion: '1' });
  expect(res.status).toBe(200);
}

async function flushBoth(): Promise<void> {
  await one.container.deviceMetrics.aggregator.flush();
  await two.container.deviceMetrics.aggregator.flush();
}

async function metrics(appId: string, query = ''): Promise<Body> {
  const res = await one.http.get(`/v1/apps/${appId}/metrics${query}`).set(one.admin);
  expect(res.status).toBe(200);
  return res.body as Body;
}

const versionOf = (body: Body, version: string): Version | undefined => body.versions.find((v) => v.version === version);

describe('update checks in the metrics', () => {
  it('counts a device that only checks for updates as active on its version, and nothing else', async () => {
    const { appId, ingest } = await one.createApp('com.test.metrics.updatecheck');
    await check(one, ingest, 'quiet-phone', '3.0.0');
    await flushBoth();

    for (const query of ['', '?channel=production', '?platform=android', '?bucket=minute']) {
      const body = await metrics(appId, query);
      expect(body.activeDevices).toBe(1);
      expect(versionOf(body, '3.0.0')).toMatchObject({
        activeDevices: 1,
        runningDevices: 0,
        exposedDevices: { download: 0, install: 0, launch: 0, crash: 0 },
        failingDevices: { download: 0, install: 0, launch: 0, crash: 0, rollback: 0 },
      });
    }
    expect((await metrics(appId, '?platform=ios')).activeDevices).toBe(0);
  });

  it('counts a device once per bucket across two checks and an event, whichever process took them', async () => {
    const { appId, ingest } = await one.createApp('com.test.metrics.updatecheck.dedupe');
    await check(one, ingest, 'busy-phone', '3.0.0');
    await flushBoth();
    await check(two, ingest, 'busy-phone', '3.0.0');
    expect((await consent(two, ingest, 'busy-phone', true)).status).toBe(201);
    const sent = await postEvents(two, ingest, [
      event('busy-phone', { type: 'app_ready', version: '3.0.0', occurredAt: new Date(NOW - 10_000).toISOString() }),
    ]);
    expect(sent.status).toBe(202);
    // A second device: checks on one process, its event reaches the other in the same flush window.
    await check(one, ingest, 'other-phone', '3.0.0');
    expect((await consent(two, ingest, 'other-phone', true)).status).toBe(201);
    await postEvents(two, ingest, [event('other-phone', { type: 'crash', version: '3.0.0', occurredAt: new Date(NOW - 5_000).toISOString() })]);
    await flushBoth();

    const day = await metrics(appId);
    expect(day.activeDevices).toBe(2);
    expect(versionOf(day, '3.0.0')).toMatchObject({ activeDevices: 2, runningDevices: 1, exposedDevices: { crash: 2 }, failingDevices: { crash: 1 } });
    const minute = await metrics(appId, '?bucket=minute');
    const point = minute.series.find((p) => p.start === '2026-01-15T12:00:00.000Z');
    expect(point?.activeDevices).toBe(2);
    expect(versionOf(minute, '3.0.0')?.activeDevices).toBe(2);
  });

  it('keeps update-check activity through reconciliation, without counting a device twice', async () => {
    const { appId, ingest } = await one.createApp('com.test.metrics.updatecheck.reconcile');
    await check(one, ingest, 'check-only', '3.0.0');
    await check(one, ingest, 'checks-then-reports', '3.0.0');
    await flushBoth();
    expect((await consent(one, ingest, 'checks-then-reports', true)).status).toBe(201);
    await postEvents(one, ingest, [
      event('checks-then-reports', { type: 'app_ready', version: '3.0.0', occurredAt: new Date(NOW - 10_000).toISOString() }),
    ]);
    await flushBoth();
    const before = await metrics(appId);
    expect(versionOf(before, '3.0.0')?.activeDevices).toBe(2);

    clock.set(NOW + 20_000); // past the settle time of the event just received
    try {
      const report = await one.container.deviceMetrics.reconciler.reconcileDay(appId, DAY);
      expect(report.deferred).toBe(0);
      const after = await metrics(appId);
      expect(after.activeDevices).toBe(2);
      expect(versionOf(after, '3.0.0')).toMatchObject({ activeDevices: 2, runningDevices: 1 });
      expect((await one.container.deviceMetrics.reconciler.reconcileDay(appId, DAY)).corrected).toBe(0);
    } finally {
      clock.set(NOW);
    }
  });
});
