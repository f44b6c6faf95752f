import { createHash, generateKeyPairSync, sign } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWorkers, type Workers } from '../../jobs/worker.js';
import { createTestContext, type TestContext } from '../helpers/test-context.js';
import { startWebhookReceiver, waitFor } from '../helpers/webhook-receiver.js';
import { afterFirstSuppressionRead, settled } from './privacy-helpers.js';

let ctx: TestContext;
let workers: Workers;
let receiver: Awaited<ReturnType<typeof startWebhookReceiver>>;
let appId: string;
let ingest: { Authorization: string };

const sha = (text: string): string => createHash('sha256').update(text).digest('hex');

beforeAll(async () => {
  ctx = await createTestContext({ config: { guardBucketSeconds: 1 } });
  workers = startWorkers(ctx.container);
  // The first delivery attempt is answered 500: the delivery must be retried and then succeed.
  receiver = await startWebhookReceiver((n) => (n === 1 ? 500 : 200));
  ({ appId, ingest } = await ctx.createApp('com.rollouts.app'));
  for (const version of ['1.0.0', '1.1.0', '1.2.0']) {
    const res = await release(version);
    expect(res.status).toBe(201);
  }
}, 60_000);

afterAll(async () => {
  await workers?.close();
  await receiver?.close();
  await ctx?.close();
});

function release(version: string, extra: Record<string, unknown> = {}) {
  return ctx.http.post(`/v1/apps/${appId}/releases`).set(ctx.admin).send({ version, bundleUrl: `https://cdn.example.com/${version}.zip`, sha256: sha(version), ...extra });
}

async function check(deviceId: string, currentVersion: string, channel: string, nativeVersion = '5.0.0') {
  const res = await ctx.http.post('/v1/update-check').set(ingest).send({ deviceId, channel, platform: 'ios', currentVersion, nativeVersion });
  expect(res.status).toBe(200);
  return res.body as { action: string; version?: string; reason: string };
}

const act = (id: string, action: string, body: object = { reason: `test ${action}` }) =>
  ctx.http.post(`/v1/apps/${appId}/rollouts/${id}/${action}`).set(ctx.admin).send(body);

describe('releases', () => {
  it('refuses bad input (400), duplicates (409) and unknown apps (404)', async () => {
    expect((await release('1.0.0')).status).toBe(409);
    expect((await release('bad version!')).status).toBe(400);
    const missing = await ctx.http.post(`/v1/apps/${appId}/releases`).set(ctx.admin).send({ version: '9.0.0', bundleUrl: 'https://x.example/b.zip' });
    expect(missing.status).toBe(400);
    expect(missing.body.error.details.field).toBe('body.sha256');
    expect((await release('9.0.1', { sha256: 'xyz' })).status).toBe(400);
    expect((await release('9.0.2', { extra: true })).status).toBe(400);
    expect((await release('9.0.3', { bundleUrl: 'ftp://x.example/b.zip' })).status).toBe(400);
    const unknownApp = await ctx.http.post('/v1/apps/com.nope.app/releases').set(ctx.admin).send({ version: '1.0.0', bundleUrl: 'https://x.example/b.zip', sha256: sha('x') });
    expect(unknownApp.status).toBe(404);
    const listed = await ctx.http.get(`/v1/apps/${appId}/releases`).set(ctx.admin);
    expect(listed.body.releases.map((r: { version: string }) => r.version)).toEqual(['1.2.0', '1.1.0', '1.0.0']);
  });

  it('with a signing key, accepts only releases whose Ed25519 signature verifies over the sha256 (422 otherwise)', async () => {
    const { publicKey, privateKey } = generateKeyPairSync('ed25519');
    const pem = publicKey.export({ format: 'pem', type: 'spki' }).toString();
    expect((await ctx.http.put(`/v1/apps/${appId}/signing-key`).set(ctx.admin).send({ publicKey: 'not-a-key-not-a-key-not-a-key-not-a-key-x' })).status).toBe(422);
    const set = await ctx.http.put(`/v1/apps/${appId}/signing-key`).set(ctx.admin).send({ publicKey: pem });
    expect(set.status).toBe(200);
    expect(set.body.publicKey).toBe(pem);

    const digest = sha('2.0.0-signed');
    const good = sign(null, Buffer.from(digest, 'ascii'), privateKey).toString('base64');
    const other = sign(null, Buffer.from(sha('something else'), 'ascii'), privateKey).toString('base64');
    const unsigned = await release('2.0.0-s1', { sha256: digest });
    expect(unsigned.status).toBe(422);
    expect(unsigned.body.error.code).toBe('signature_required');
    const wrong = await release('2.0.0-s2', { sha256: digest, signature: other });
    expect(wrong.status).toBe(422);
    expect(wrong.body.error.code).toBe('signature_invalid');
    const ok = await release('2.0.0-s3', { sha256: digest, signature: good });
    expect(ok.status).toBe(201);
    expect(ok.body.signature).toBe(good);

    expect((await ctx.http.put(`/v1/apps/${appId}/signing-key`).set(ctx.admin).send({ publicKey: null })).body.publicKey).toBeNull();
    expect((await release('2.0.0-s4', { sha256: digest })).status).toBe(201);
  });
});

describe('rollouts driven by people', () => {
  it('create → pause → resume → advance … → completed, each with a reason, audited and webhooked; bucketing stays sticky', async () => {
    const hook = await ctx.http.post('/v1/webhooks').set(ctx.admin).send({ url: receiver.url, events: ['rollout.paused', 'rollout.resumed', 'rollout.advanced', 'rollout.completed'], appId });
    expect(hook.status).toBe(201);

    expect((await ctx.http.post(`/v1/apps/${appId}/rollouts`).set(ctx.admin).send({ channel: 'production', version: '1.1.0', percent: 10 })).body.error.code).toBe('baseline_required');
    expect((await ctx.http.post(`/v1/apps/${appId}/rollouts`).set(ctx.admin).send({ channel: 'production', version: '7.7.7', baselineVersion: '1.0.0', percent: 10 })).status).toBe(422);
    expect((await ctx.http.post(`/v1/apps/${appId}/rollouts`).set(ctx.admin).send({ channel: 'production', version: '1.1.0', baselineVersion: '1.0.0', percent: 150 })).status).toBe(400);
    expect((await ctx.http.post(`/v1/apps/${appId}/rollouts`).set(ctx.admin).send({ channel: 'production', version: '1.1.0', baselineVersion: '1.0.0', percent: 10, guard: { alphaFail: 2 } })).status).toBe(400);
    const badGuard = await ctx.http.post(`/v1/apps/${appId}/rollouts`).set(ctx.admin).send({ channel: 'production', version: '1.1.0', baselineVersion: '1.0.0', percent: 10, guard: { grid: [1.1] } });
    expect(badGuard.status).toBe(422);
    expect(badGuard.body.error.code).toBe('guard_config_invalid');

    const created = await ctx.http.post(`/v1/apps/${appId}/rollouts`).set(ctx.admin).send({ channel: 'production', version: '1.1.0', baselineVersion: '1.0.0', percent: 10, steps: [10, 50] });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ status: 'active', percent: 10, steps: [10, 50, 100], baselineVersion: '1.0.0', testId: 1 });
    const id = created.body.id as string;
    const busy = await ctx.http.post(`/v1/apps/${appId}/rollouts`).set(ctx.admin).send({ channel: 'production', version: '1.2.0', baselineVersion: '1.0.0', percent: 10 });
    expect(busy.status).toBe(409);
    expect(busy.body.error.code).toBe('channel_busy');

    const devices = Array.from({ length: 120 }, (_, i) => `sticky-${i}`);
    const inAt10 = new Set<string>();
    for (const d of devices) if ((await check(d, '1.0.0', 'production')).action === 'update') inAt10.add(d);
    expect(inAt10.size).toBeGreaterThan(3);
    expect(inAt10.size).toBeLessThan(30);

    expect((await act(id, 'pause', {})).status).toBe(400);
    expect((await act(id, 'pause', { reason: '' })).status).toBe(400);
    const paused = await act(id, 'pause', { reason: 'support tickets rising' });
    expect(paused.status).toBe(200);
    expect(paused.body).toMatchObject({ status: 'paused', lastAction: { action: 'pause', reason: 'support tickets rising' } });
    expect((await act(id, 'pause')).status).toBe(409);
    expect((await act(id, 'advance')).status).toBe(409);
    // Paused: nobody new is offered the version; devices already on it stay.
    expect((await check([...inAt10][0]!, '1.0.0', 'production')).action).toBe('none');
    expect((await check([...inAt10][0]!, '1.1.0', 'production')).action).toBe('none');

    const resumed = await act(id, 'resume', { reason: 'false alarm' });
    expect(resumed.body).toMatchObject({ status: 'active', percent: 10, testId: 1 });
    const advanced = await act(id, 'advance', { reason: 'metrics look fine' });
    expect(advanced.body).toMatchObject({ status: 'active', percent: 50 });
    const inAt50 = new Set<string>();
    for (const d of devices) if ((await check(d, '1.0.0', 'production')).action === 'update') inAt50.add(d);
    for (const d of inAt10) expect(inAt50.has(d), `${d} was in at 10 % and must stay in at 50 %`).toBe(true);
    expect(inAt50.size).toBeGreaterThan(inAt10.size);

    expect((await act(id, 'advance', { reason: 'to 100' })).body.percent).toBe(100);
    const completed = await act(id, 'advance', { reason: 'done' });
    expect(completed.body).toMatchObject({ status: 'completed', lastAction: { action: 'complete' } });
    const channels = await ctx.http.get(`/v1/apps/${appId}/channels`).set(ctx.admin);
    expect(channels.body.channels).toContainEqual({ appId, name: 'production', blocked: false, currentVersion: '1.1.0', activeRolloutId: null });
    // Every device of the channel is now offered the completed version.
    expect(await check('brand-new-device', '1.0.0', 'production')).toMatchObject({ action: 'update', version: '1.1.0', reason: 'stable' });

    const audit = await ctx.http.get('/v1/audit').query({ action: 'rollout.pause' }).set(ctx.admin);
    expect(audit.body.entries.some((e: { details: { reason: string } }) => e.details.reason === 'support tickets rising')).toBe(true);

    // Webhooks: the first attempt got a 500 and was retried with backoff; every event arrived signed.
    await waitFor(async () => (receiver.received.filter((r) => r.headers['x-otaguard-event'] === 'rollout.completed').length > 0 ? true : null), 15_000, 'rollout.completed');
    // The retry of the first paused delivery runs on its own backoff clock and may land after rollout.completed.
    const paused1 = await waitFor(async () => {
      const seen = receiver.received.filter((r) => r.headers['x-otaguard-event'] === 'rollout.paused');
      return seen.length >= 2 ? seen : null;
    }, 15_000, 'the retried rollout.paused');
    expect(paused1.length).toBe(2);
    expect(JSON.parse(paused1[1]!.body).data).toMatchObject({ rolloutId: id, reason: 'support tickets rising', status: 'paused', actor: expect.stringMatching(/^key_/) });
    const log = await ctx.http.get(`/v1/webhooks/${hook.body.id}/deliveries`).set(ctx.admin);
    const pausedDelivery = log.body.deliveries.find((d: { event: string }) => d.event === 'rollout.paused');
    expect(pausedDelivery.status).toBe('delivered');
    expect(pausedDelivery.attempts.map((a: { statusCode: number }) => a.statusCode)).toEqual([500, 200]);
  }, 60_000);

  it('a manual rollback tells devices on the version to return; resuming starts a fresh guard test', async () => {
    const created = await ctx.http.post(`/v1/apps/${appId}/rollouts`).set(ctx.admin).send({ channel: 'production', version: '1.2.0', percent: 100 });
    expect(created.body.baselineVersion).toBe('1.1.0');
    const id = created.body.id as string;
    expect((await check('rb-device', '1.1.0', 'production')).version).toBe('1.2.0');
    const rolledBack = await act(id, 'rollback', { reason: 'bad reviews' });
    expect(rolledBack.body).toMatchObject({ status: 'rolled_back', percent: 0 });
    expect(await check('rb-device', '1.2.0', 'production')).toMatchObject({ action: 'rollback', version: '1.1.0', reason: 'rolled_back' });
    expect((await check('other-device', '1.1.0', 'production')).action).toBe('none');
    expect((await act(id, 'rollback')).status).toBe(409);

    const resumed = await act(id, 'resume', { reason: 'fixed on the CDN', percent: 20 });
    expect(resumed.body).toMatchObject({ status: 'active', percent: 20, testId: 2 });
    const cancelled = await act(id, 'cancel', { reason: 'superseded' });
    expect(cancelled.body.status).toBe('cancelled');
    expect((await act('ro_00000000-0000-0000-0000-000000000000', 'pause')).status).toBe(404);
    expect((await act('not-a-rollout', 'pause')).status).toBe(400);
  });
});

describe('the update check', () => {
  it('serves nothing on a blocked channel and respects native version bounds', async () => {
    expect((await release('3.0.0', { minNativeVersion: '6.0.0' })).status).toBe(201);
    const created = await ctx.http.post(`/v1/apps/${appId}/rollouts`).set(ctx.admin).send({ channel: 'beta', version: '3.0.0', baselineVersion: '1.0.0', percent: 100 });
    expect(created.status).toBe(201);
    expect(await check('native-old', '1.0.0', 'beta', '5.2.0')).toMatchObject({ action: 'none' });
    expect(await check('native-new', '1.0.0', 'beta', '6.1.0')).toMatchObject({ action: 'update', version: '3.0.0' });

    const blocked = await ctx.http.post(`/v1/apps/${appId}/channels/beta/block`).set(ctx.admin).send({ reason: 'compromised bucket' });
    expect(blocked.body).toMatchObject({ name: 'beta', blocked: true });
    expect(await check('native-new', '1.0.0', 'beta', '6.1.0')).toEqual({ action: 'none', reason: 'channel_blocked' });
    await ctx.http.post(`/v1/apps/${appId}/channels/beta/unblock`).set(ctx.admin).send();
    expect((await check('native-new', '1.0.0', 'beta', '6.1.0')).action).toBe('update');
    expect(await check('x', '1.0.0', 'no-such-channel')).toEqual({ action: 'none', reason: 'no_release' });
  });

  it('leaves no exposure behind when an erasure runs between its suppression check and its write', async () => {
    const deviceId = 'exposure-racing-device';
    const pid = ctx.container.pseudonyms.pid(appId, deviceId);
    // The exact interleaving: the check reads "not suppressed", the whole erasure runs to completion, then
    // the check records the exposure.
    const erase = async (): Promise<Record<string, unknown>> => {
      const filed = await ctx.http.post('/v1/privacy/requests').set(ctx.admin).send({ appId, type: 'delete', deviceId, jurisdiction: 'gdpr' });
      return settled(ctx, filed.body.id as string);
    };
    const erased = await afterFirstSuppressionRead(ctx, pid, erase, async () => {
      expect((await check(deviceId, '1.0.0', 'beta', '6.1.0')).action).toBe('update');
    });
    expect(erased?.status).toBe('completed');
    expect(await ctx.container.mongo.db!.collection('rollout_exposures').countDocuments({ appId, pid })).toBe(0);
    // And from then on the device is never recorded.
    await check(deviceId, '1.0.0', 'beta', '6.1.0');
    expect(await ctx.container.mongo.db!.collection('rollout_exposures').countDocuments({ appId, pid })).toBe(0);
  });

  it('refuses bad input and admin keys', async () => {
    const missing = await ctx.http.post('/v1/update-check').set(ingest).send({ deviceId: 'd', channel: 'beta', platform: 'ios', currentVersion: '1.0.0' });
    expect(missing.status).toBe(400);
    expect(missing.body.error.details.field).toBe('body.nativeVersion');
    expect((await ctx.http.post('/v1/update-check').set(ctx.admin).send({ deviceId: 'd', channel: 'beta', platform: 'ios', currentVersion: '1.0.0', nativeVersion: '1' })).status).toBe(401);
    expect((await ctx.http.post('/v1/update-check').set(ingest).send({ deviceId: 'd', channel: 'beta', platform: 'toaster', currentVersion: '1.0.0', nativeVersion: '1' })).status).toBe(400);
  });
});
