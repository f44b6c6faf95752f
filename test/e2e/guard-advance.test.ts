import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWorkers, type Workers } from '../../jobs/worker.js';
import { replayRollout } from '../../src/rollouts/guard-replay.js';
import { createTestContext, type TestContext } from '../helpers/test-context.js';
import { startWebhookReceiver, waitFor } from '../helpers/webhook-receiver.js';

let ctx: TestContext;
let workers: Workers[];
let receiver: Awaited<ReturnType<typeof startWebhookReceiver>>;
let appId: string;
let ingest: { Authorization: string };

beforeAll(async () => {
  ctx = await createTestContext({ config: { guardBucketSeconds: 1 } });
  // Two worker sets on the same queues: every bucket must still be evaluated exactly once.
  workers = [startWorkers(ctx.container), startWorkers(ctx.container)];
  receiver = await startWebhookReceiver();
  ({ appId, ingest } = await ctx.createApp('com.guard.advance'));
  for (const version of ['1.0.0', '2.0.0']) {
    const res = await ctx.http.post(`/v1/apps/${appId}/releases`).set(ctx.admin).send({ version, bundleUrl: `https://cdn.example.com/${version}.zip`, sha256: randomUUID().replace(/-/g, '').repeat(2) });
    expect(res.status).toBe(201);
  }
}, 60_000);

afterAll(async () => {
  for (const w of workers ?? []) await w.close();
  await receiver?.close();
  await ctx?.close();
});

function event(deviceId: string, type: string, version: string) {
  return { eventId: randomUUID(), deviceId, type, version, channel: 'production', platform: 'android', occurredAt: new Date().toISOString() };
}

describe('a healthy release passes and the guard advances it', () => {
  it('PASS (with the bake time overridden to 0) advances 50 % → 100 % → completed, webhooked as the system; one decision per bucket', async () => {
    const hook = await ctx.http.post('/v1/webhooks').set(ctx.admin).send({ url: receiver.url, events: ['rollout.advanced', 'rollout.completed'], appId });
    expect(hook.status).toBe(201);
    // Only the concurrent crash-rate test, one platform, no bake: a test-sized rollout can pass in seconds.
    // The telemetry arrives in one burst, so the silence rule is switched off: on a loaded machine the
    // PASS could otherwise land a bucket after the silence and the rollout would pause for data instead.
    const guard = {
      platforms: ['android'],
      metrics: { install_failure: { enabled: false }, launch_failure: { enabled: false } },
      pass: { minBakeMs: 0 },
      dataHealth: { silentExpectedDevices: 1e9 },
    };
    const created = await ctx.http.post(`/v1/apps/${appId}/rollouts`).set(ctx.admin).send({ channel: 'production', version: '2.0.0', baselineVersion: '1.0.0', percent: 50, steps: [50], guard });
    expect(created.status).toBe(201);
    const rolloutId = created.body.id as string;

    const onU: string[] = [];
    const onC: string[] = [];
    for (let i = 0; i < 80; i++) {
      const deviceId = `advance-${i}-${randomUUID()}`;
      const res = await ctx.http.post('/v1/update-check').set(ingest).send({ deviceId, channel: 'production', platform: 'android', currentVersion: '1.0.0', nativeVersion: '1.0.0' });
      (res.body.action === 'update' ? onU : onC).push(deviceId);
      const consent = await ctx.http.post('/v1/consent').set(ingest).send({ deviceId, granted: true, purposes: ['telemetry'], policyVersion: 'v1', source: 'sdk' });
      expect(consent.status).toBe(201);
    }
    // The new version runs cleanly while the baseline keeps crashing: U is clearly no worse than C.
    const events = [...onU.map((d) => event(d, 'app_ready', '2.0.0')), ...onC.flatMap((d) => [event(d, 'app_ready', '1.0.0'), event(d, 'crash', '1.0.0')])];
    const sent = await ctx.http.post('/v1/events').set(ingest).send({ events });
    expect(sent.status).toBe(202);

    const done = await waitFor(async () => {
      const res = await ctx.http.get(`/v1/apps/${appId}/rollouts/${rolloutId}`).set(ctx.admin);
      return res.body.status === 'completed' ? res.body : null;
    }, 20_000, 'the guard to advance the rollout to completion');
    expect(done.lastAction).toMatchObject({ action: 'complete', actor: 'system' });
    const channel = await waitFor(async () => {
      const res = await ctx.http.get(`/v1/apps/${appId}/channels`).set(ctx.admin);
      return res.body.channels[0]?.activeRolloutId === null ? res.body.channels[0] : null;
    }, 5000, 'the channel to be released');
    expect(channel).toMatchObject({ name: 'production', currentVersion: '2.0.0', activeRolloutId: null });

    await waitFor(async () => (receiver.received.some((r) => r.headers['x-otaguard-event'] === 'rollout.completed') ? true : null), 10_000, 'rollout.completed');
    const advanced = receiver.received.filter((r) => r.headers['x-otaguard-event'] === 'rollout.advanced').map((r) => JSON.parse(r.body));
    expect(advanced).toHaveLength(1);
    expect(advanced[0].data).toMatchObject({ rolloutId, actor: 'system', fromPercent: 50, toPercent: 100 });

    const log = await ctx.http.get(`/v1/apps/${appId}/rollouts/${rolloutId}/decisions`).set(ctx.admin).query({ limit: 1000 });
    const decisions = log.body.decisions as Array<{ kind: string; bucketStart: string; sequence: number }>;
    // Two PASSes acted on (50 → 100, 100 → completed); a bucket already under evaluation when the
    // rollout completed may log a third, which no longer applies to anything.
    expect(decisions.filter((d) => d.kind === 'pass').length).toBeGreaterThanOrEqual(2);
    expect(decisions.filter((d) => d.kind !== 'pass' && d.kind !== 'continue' && d.kind !== 'warn')).toEqual([]);
    const buckets = decisions.map((d) => d.bucketStart);
    expect(new Set(buckets).size).toBe(buckets.length);
    expect(decisions.map((d) => d.sequence)).toEqual(decisions.map((_, i) => i + 1));
    expect((await replayRollout(ctx.container.rollouts.guardLog, rolloutId)).ok).toBe(true);
  }, 60_000);
});
