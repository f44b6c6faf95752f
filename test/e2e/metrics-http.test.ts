import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.js';
import { consent, event, postEvents } from '../helpers/ingest-fixtures.js';
import { createTwoProcesses, type TestContext } from '../helpers/test-context.js';

const NOW = Date.parse('2026-01-15T12:00:00.000Z');
const clock = new ManualClock(NOW);
const ago = (minutes: number): string => new Date(clock.now().getTime() - minutes * 60_000).toISOString();
let one: TestContext;
let two: TestContext;
let closeBoth: () => Promise<void>;

beforeAll(async () => {
  ({ one, two, close: closeBoth } = await createTwoProcesses({ clock }));
});
afterAll(async () => {
  await closeBoth();
});

type Version = { version: string; activeDevices: number; runningDevices: number; failingDevices: Record<string, number>; exposedDevices: Record<string, number> };

async function versionOf(appId: string, version: string): Promise<Version | undefined> {
  const res = await one.http.get(`/v1/apps/${appId}/metrics`).set(one.admin);
  expect(res.status).toBe(200);
  return (res.body.versions as Version[]).find((v) => v.version === version);
}

describe('metrics through the ingest endpoint', () => {
  it('shows accepted events within two seconds, one device once, whichever process took them', async () => {
    const { appId, ingest } = await one.createApp('com.test.metricshttp');
    const devices = ['looper', 'steady', 'upgrader'];
    for (const d of devices) expect((await consent(one, ingest, d, true)).status).toBe(201);

    const loop = Array.from({ length: 10 }, () => event('looper', { type: 'crash', version: '2.0.0', occurredAt: ago(2) }));
    const first = await postEvents(one, ingest, loop.slice(0, 5));
    const second = await postEvents(two, ingest, loop.slice(5));
    expect([first.status, second.status]).toEqual([202, 202]);
    // A device resending its batch: ingest reports duplicates and metrics ignores them.
    expect((await postEvents(two, ingest, loop.slice(0, 5))).body.duplicates).toBe(5);
    await postEvents(one, ingest, [event('steady', { type: 'app_ready', version: '2.0.0', occurredAt: ago(2) })]);
    await postEvents(two, ingest, [
      event('upgrader', { type: 'app_ready', version: '1.0.0', occurredAt: ago(3) }),
      event('upgrader', { type: 'app_ready', version: '2.0.0', occurredAt: ago(1) }),
    ]);

    await expect
      .poll(async () => (await versionOf(appId, '2.0.0'))?.runningDevices, { timeout: 2000, interval: 100 })
      .toBe(2);
    const v2 = await versionOf(appId, '2.0.0');
    expect(v2).toMatchObject({ activeDevices: 3, failingDevices: { crash: 1 }, exposedDevices: { crash: 3 } });
    expect(await versionOf(appId, '1.0.0')).toMatchObject({ activeDevices: 1, runningDevices: 0 });
  });

  it('judges an install with no app_ready within 10 minutes as a launch failure', async () => {
    const { appId, ingest } = await one.createApp('com.test.metricshttp.launch');
    for (const d of ['silent', 'ok']) await consent(one, ingest, d, true);
    await postEvents(one, ingest, [
      event('silent', { type: 'installed', version: '3.0.0', occurredAt: ago(0.5) }),
      event('ok', { type: 'installed', version: '3.0.0', occurredAt: ago(0.5) }),
      event('ok', { type: 'app_ready', version: '3.0.0', occurredAt: ago(0.2) }),
    ]);
    await expect.poll(async () => (await versionOf(appId, '3.0.0'))?.exposedDevices.launch, { timeout: 2000 }).toBe(2);
    clock.set(NOW + 12 * 60_000);
    await two.container.deviceMetrics.launchTimeouts.run();
    expect(await versionOf(appId, '3.0.0')).toMatchObject({ failingDevices: { launch: 1 }, exposedDevices: { launch: 2 } });
    clock.set(NOW);
  });
});
