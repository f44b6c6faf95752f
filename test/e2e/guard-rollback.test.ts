import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWorkers, type Workers } from '../../jobs/worker.js';
import { replayRollout } from '../../src/rollouts/guard-replay.js';
import { verifyWebhook } from '../../src/webhooks/webhook-signature.js';
import { createTestContext, type TestContext } from '../helpers/test-context.js';
import { startWebhookReceiver, waitFor } from '../helpers/webhook-receiver.js';

const execFileAsync = promisify(execFile);
let ctx: TestContext;
let workers: Workers;
let receiver: Awaited<ReturnType<typeof startWebhookReceiver>>;
let appId: string;
let ingest: { Authorization: string };

const SHA_C = 'c'.repeat(64);
const SHA_U = 'd'.repeat(64);

beforeAll(async () => {
  ctx = await createTestContext({ config: { guardBucketSeconds: 1 } });
  workers = startWorkers(ctx.container);
  receiver = await startWebhookReceiver();
  ({ appId, ingest } = await ctx.createApp('com.guard.app'));
  for (const [version, sha256] of [['1.0.0', SHA_C], ['2.0.0', SHA_U]] as const) {
    const res = await ctx.http.post(`/v1/apps/${appId}/releases`).set(ctx.admin).send({ version, bundleUrl: `https://cdn.example.com/${version}.zip`, sha256 });
    expect(res.status).toBe(201);
  }
}, 60_000);

afterAll(async () => {
  await workers?.close();
  await receiver?.close();
  await ctx?.close();
});

async function updateCheck(deviceId: string, currentVersion: string, channel = 'production') {
  const res = await ctx.http.post('/v1/update-check').set(ingest).send({ deviceId, channel, platform: 'android', currentVersion, nativeVersion: '5.0.0' });
  expect(res.status).toBe(200);
  return res.body as { action: string; version?: string; url?: string; sha256?: string; reason: string };
}

async function consent(deviceId: string): Promise<void> {
  const res = await ctx.http.post('/v1/consent').set(ingest).send({ deviceId, granted: true, purposes: ['telemetry'], policyVersion: 'v1', source: 'sdk' });
  expect(res.status).toBe(201);
}

function event(deviceId: string, type: string, version: string, channel = 'production', extra: Record<string, unknown> = {}) {
  return { eventId: randomUUID(), deviceId, type, version, channel, platform: 'android', occurredAt: new Date().toISOString(), ...extra };
}

async function send(events: object[]): Promise<void> {
  const res = await ctx.http.post('/v1/events').set(ingest).send({ events });
  expect(res.status).toBe(202);
  expect(res.body.rejected).toEqual([]);
}

describe('the rollout guard stops a crashing release and rolls devices back', () => {
  it('at 50 %: crash-on-launch on the new version → rolled back within a few buckets, devices told to return, webhook signed, incident listed', async () => {
    const hook = await ctx.http
      .post('/v1/webhooks')
      .set(ctx.admin)
      .send({ url: receiver.url, events: ['incident.opened', 'rollout.rolled_back', 'rollout.paused'], appId });
    expect(hook.status).toBe(201);
    const secret = hook.body.secret as string;

    const created = await ctx.http.post(`/v1/apps/${appId}/rollouts`).set(ctx.admin).send({ channel: 'production', version: '2.0.0', baselineVersion: '1.0.0', percent: 50 });
    expect(created.status).toBe(201);
    const rolloutId = created.body.id as string;

    const devices = Array.from({ length: 60 }, (_, i) => `guard-device-${i}-${randomUUID()}`);
    const onU: string[] = [];
    const onC: string[] = [];
    for (const deviceId of devices) {
      const decision = await updateCheck(deviceId, '1.0.0');
      if (decision.action === 'update') {
        expect(decision).toMatchObject({ version: '2.0.0', url: 'https://cdn.example.com/2.0.0.zip', sha256: SHA_U, reason: 'rollout' });
        onU.push(deviceId);
      } else {
        expect(decision).toMatchObject({ action: 'none' });
        onC.push(deviceId);
      }
    }
    // Sticky bucketing at 50 %: about half, and the same answer on a second check.
    expect(onU.length).toBeGreaterThan(15);
    expect(onC.length).toBeGreaterThan(15);
    expect((await updateCheck(onU[0]!, '1.0.0')).action).toBe('update');

    for (const deviceId of devices) await consent(deviceId);
    // Devices offered 2.0.0 install it and crash before app_ready; the others run 1.0.0 normally.
    await send(onU.flatMap((d) => [event(d, 'download_started', '2.0.0'), event(d, 'installed', '2.0.0'), event(d, 'crash', '2.0.0')]));
    await send(onC.map((d) => event(d, 'app_ready', '1.0.0')));
    const sentAt = Date.now();

    const stopped = await waitFor(
      async () => {
        const res = await ctx.http.get(`/v1/apps/${appId}/rollouts/${rolloutId}`).set(ctx.admin);
        return res.body.status === 'rolled_back' ? res.body : null;
      },
      30_000,
      'the guard to roll the release back',
    ).catch(async (err: unknown) => {
      const log = await ctx.http.get(`/v1/apps/${appId}/rollouts/${rolloutId}/decisions`).set(ctx.admin).query({ limit: 1000 });
      const brief = log.body.decisions.map((d: { kind: string; record: { inputs: { health: unknown }; segments: Array<Record<string, unknown>> } }) => ({
        kind: d.kind,
        health: d.record.inputs.health,
        all: d.record.segments.filter((s) => s.segment === 'all').map((s) => [s.metric, s.failingU, s.exposedU, s.distinctFailingU, s.logLambda, s.fired]),
      }));
      console.log(`GUARD DEBUG ${onU.length}/${onC.length} ${JSON.stringify(brief).slice(-3000)}`);
      throw err;
    });
    expect(Date.now() - sentAt).toBeLessThan(30_000);
    expect(stopped).toMatchObject({ status: 'rolled_back', percent: 0, lastAction: { actor: 'system', action: 'rollback' } });

    // Devices on 2.0.0 are told to go back to 1.0.0; devices never offered it are not offered it now.
    expect(await updateCheck(onU[1]!, '2.0.0')).toMatchObject({ action: 'rollback', version: '1.0.0', url: 'https://cdn.example.com/1.0.0.zip', sha256: SHA_C, reason: 'rolled_back' });
    for (let i = 0; i < 10; i++) expect((await updateCheck(`fresh-device-${i}`, '1.0.0')).action).toBe('none');

    const incidents = await ctx.http.get(`/v1/apps/${appId}/incidents`).set(ctx.admin);
    expect(incidents.status).toBe(200);
    expect(incidents.body.incidents).toHaveLength(1);
    const incident = incidents.body.incidents[0];
    expect(incident).toMatchObject({ rolloutId, status: 'open', action: 'rolled_back', version: '2.0.0', baselineVersion: '1.0.0' });
    expect(['launch_failure', 'crash_rate']).toContain(incident.metric);
    expect(incident.evidence.counts.distinctFailingU).toBeGreaterThanOrEqual(5);
    expect(incident.evidence.exposures.exposedU).toBeGreaterThanOrEqual(incident.evidence.counts.failingU);
    expect(incident.evidence.configHash).toMatch(/^[0-9a-f]{64}$/);
    expect(incident.evidence.pValue).toBeGreaterThan(0);
    expect(incident.evidence.pValue).toBeLessThanOrEqual(1);
    const incidentUrl = `/v1/apps/${appId}/incidents/${incident.id}`;
    const acked = await ctx.http.post(`${incidentUrl}/acknowledge`).set(ctx.admin).send({ note: 'looking at the crash reports' });
    expect(acked.body).toMatchObject({ status: 'acknowledged', note: 'looking at the crash reports', statusChangedBy: expect.stringMatching(/^key_/) });
    expect((await ctx.http.post(`${incidentUrl}/acknowledge`).set(ctx.admin).send({})).status).toBe(409);
    expect((await ctx.http.post(`${incidentUrl}/resolve`).set(ctx.admin).send()).body.status).toBe('resolved');
    expect((await ctx.http.post(`${incidentUrl}/resolve`).set(ctx.admin).send()).status).toBe(409);
    expect((await ctx.http.post(`/v1/apps/${appId}/incidents/inc_${'0'.repeat(24)}/resolve`).set(ctx.admin).send()).status).toBe(404);

    // Signed webhooks reach the receiver: incident.opened and rollout.rolled_back, ids only.
    const deliveries = await waitFor(async () => {
      const types = receiver.received.map((r) => r.headers['x-otaguard-event']);
      return types.includes('incident.opened') && types.includes('rollout.rolled_back') ? receiver.received : null;
    }, 10_000, 'signed webhooks');
    for (const delivery of deliveries) {
      const signature = delivery.headers['x-otaguard-signature'] as string;
      const timestamp = delivery.headers['x-otaguard-timestamp'] as string;
      expect(verifyWebhook(secret, { signature, timestamp }, delivery.body, Math.floor(Date.now() / 1000))).toBe(true);
      expect(verifyWebhook('wrong-secret', { signature, timestamp }, delivery.body, Math.floor(Date.now() / 1000))).toBe(false);
      for (const deviceId of devices) expect(delivery.body).not.toContain(deviceId);
    }
    const opened = JSON.parse(deliveries.find((d) => d.headers['x-otaguard-event'] === 'incident.opened')!.body);
    expect(opened).toMatchObject({ type: 'incident.opened', appId, data: { rolloutId, incidentId: incident.id, action: 'rolled_back' } });

    // The rollback is audited as the system's, with its reason.
    const audit = await ctx.http.get('/v1/audit').query({ action: 'rollout.rollback' }).set(ctx.admin);
    expect(audit.body.entries.some((e: { actor: string; target: string }) => e.actor === 'system' && e.target === `rollout:${rolloutId}`)).toBe(true);

    // The decision log ends in the FAIL and replays exactly.
    const log = await ctx.http.get(`/v1/apps/${appId}/rollouts/${rolloutId}/decisions`).set(ctx.admin);
    expect(log.status).toBe(200);
    const kinds = (log.body.decisions as Array<{ kind: string }>).map((d) => d.kind);
    expect(kinds.at(-1)).toBe('fail');
    // "Within a few buckets": counted in evaluated buckets, so a loaded machine cannot make it flaky.
    const firstWithData = (log.body.decisions as Array<{ record: { inputs: { health: { reportingU: number } } } }>).findIndex((d) => d.record.inputs.health.reportingU > 0);
    expect(firstWithData).toBeGreaterThanOrEqual(0);
    expect(kinds.length - 1 - firstWithData).toBeLessThanOrEqual(2);
    expect(kinds.filter((k) => k === 'fail')).toHaveLength(1);
    const replayed = await replayRollout(ctx.container.rollouts.guardLog, rolloutId);
    expect(replayed.ok).toBe(true);
    expect(replayed.tests[0]!.kinds).toEqual(kinds);
    // The same through the CLI (`npm run guard:replay -- <rolloutId>`), reading the log from the database.
    const cli = await execFileAsync(process.execPath, ['--import', 'tsx', 'scripts/guard-replay.ts', rolloutId], {
      env: { ...process.env, MONGODB_URL: `mongodb://127.0.0.1:27017/${ctx.dbName}` },
    });
    expect(cli.stdout).toContain('replay OK');
    expect(JSON.parse(cli.stdout.split('\n')[0]!)).toMatchObject({ rolloutId, decisions: kinds.length, lastDecision: 'fail', mismatches: 0, ok: true });

    // Raw device ids appear nowhere in what the guard stored.
    const db = ctx.container.mongo.db!;
    for (const name of ['rollout_exposures', 'guard_decisions', 'incidents', 'webhook_deliveries', 'rollouts']) {
      const dump = JSON.stringify(await db.collection(name).find().toArray());
      for (const deviceId of devices.slice(0, 5)) expect(dump, name).not.toContain(deviceId);
    }
  }, 60_000);

  it('ignores failures reported by devices the update check never saw (forged telemetry)', async () => {
    const created = await ctx.http.post(`/v1/apps/${appId}/rollouts`).set(ctx.admin).send({ channel: 'beta', version: '2.0.0', baselineVersion: '1.0.0', percent: 50 });
    expect(created.status).toBe(201);
    const rolloutId = created.body.id as string;
    const forgers = Array.from({ length: 30 }, (_, i) => `forger-${i}-${randomUUID()}`);
    for (const deviceId of forgers) await consent(deviceId);
    await send(forgers.flatMap((d) => [event(d, 'installed', '2.0.0', 'beta'), event(d, 'crash', '2.0.0', 'beta')]));

    // Several buckets evaluated, none of them moved by the forged events.
    await waitFor(async () => {
      const log = await ctx.http.get(`/v1/apps/${appId}/rollouts/${rolloutId}/decisions`).set(ctx.admin);
      return log.body.decisions.length >= 4 ? log.body.decisions : null;
    }, 20_000, 'four guard evaluations');
    const rollout = await ctx.http.get(`/v1/apps/${appId}/rollouts/${rolloutId}`).set(ctx.admin);
    expect(rollout.body.status).toBe('active');
    const log = await ctx.http.get(`/v1/apps/${appId}/rollouts/${rolloutId}/decisions`).set(ctx.admin);
    for (const d of log.body.decisions) {
      expect(d.kind).not.toBe('fail');
      for (const segment of d.record.segments) expect(segment.failingU).toBe(0);
    }
    const evaluated = (log.body.decisions as Array<{ bucketStart: string }>).map((d) => Date.parse(d.bucketStart));
    // Exactly one evaluation per bucket, consecutive.
    expect(new Set(evaluated).size).toBe(evaluated.length);
  }, 40_000);
});
