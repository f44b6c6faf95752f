import { randomBytes, randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWorkers, type Workers } from '../../jobs/worker.js';
import { REDIS_URL, createTestContext, type TestContext } from '../helpers/test-context.js';
import { startWebhookReceiver, waitFor } from '../helpers/webhook-receiver.js';

/**
 * The canary: a recognisable device id sent through every device endpoint (valid and invalid requests)
 * and through privacy requests (a device export and an admin erasure, run by real workers), while
 * rollouts produce audit entries and webhook deliveries to a local receiver. Afterwards it must appear
 * nowhere: no collection (audit entries and webhook deliveries included), no webhook body on the wire, no
 * Redis key or value (BullMQ job data included), no log line and no response. Its pseudonym must appear,
 * or the test would pass for storing nothing.
 */
const CANARY = `CANARY-device-${randomBytes(6).toString('hex')}`;
const FORMS = [CANARY, CANARY.toLowerCase(), Buffer.from(CANARY).toString('base64'), Buffer.from(CANARY).toString('hex'), encodeURIComponent(CANARY)];

let ctx: TestContext;
let workers: Workers | undefined;
let receiver: Awaited<ReturnType<typeof startWebhookReceiver>> | undefined;
let appId: string;
let ingest: { Authorization: string };
const responses: string[] = [];

async function record<T extends { text: string; status: number }>(request: Promise<T>): Promise<T> {
  const res = await request;
  responses.push(res.text);
  return res;
}

function event(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    eventId: randomUUID(),
    deviceId: CANARY,
    type: 'app_ready',
    version: '1.0.0',
    channel: 'production',
    platform: 'android',
    occurredAt: new Date(Date.now() - 30_000).toISOString(),
    ...overrides,
  };
}

async function redisDump(prefix: string): Promise<string> {
  const redis = new Redis(REDIS_URL);
  const out: string[] = [];
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      for (const key of keys) {
        const type = await redis.type(key);
        const value =
          type === 'string' ? await redis.get(key)
          : type === 'hash' ? await redis.hgetall(key)
          : type === 'list' ? await redis.lrange(key, 0, -1)
          : type === 'set' ? await redis.smembers(key)
          : type === 'zset' ? await redis.zrange(key, '0', '-1', 'WITHSCORES')
          : type === 'stream' ? await redis.xrange(key, '-', '+')
          : null;
        out.push(key, JSON.stringify(value));
      }
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
  return out.join('\n');
}

beforeAll(async () => {
  ctx = await createTestContext();
  ({ appId, ingest } = await ctx.createApp('com.canary.app'));
  receiver = await startWebhookReceiver();
  workers = startWorkers(ctx.container);
}, 60_000);
afterAll(async () => {
  await workers?.close();
  await receiver?.close();
  await ctx?.close();
});

async function settled(id: string): Promise<string> {
  return waitFor(
    async () => {
      const status = (await ctx.http.get(`/v1/privacy/requests/${id}`).set(ctx.admin)).body.status as string;
      return ['completed', 'denied', 'failed'].includes(status) ? status : undefined;
    },
    30_000,
    `privacy request ${id}`,
  );
}

describe('the device-id canary', () => {
  it('never reaches a collection, audit entry, webhook delivery, Redis key or value, log line or response', { timeout: 120_000 }, async () => {
    const http = ctx.http;
    // Admin flows that write audit entries and webhook deliveries.
    await record(http.post('/v1/webhooks').set(ctx.admin).send({ url: receiver!.url, events: ['rollout.paused', 'rollout.resumed', 'rollout.rolled_back'], appId }));
    await record(http.post(`/v1/apps/${appId}/releases`).set(ctx.admin).send({ version: '1.0.0', bundleUrl: 'https://example.com/1.zip', sha256: 'a'.repeat(64) }));
    await record(http.post(`/v1/apps/${appId}/releases`).set(ctx.admin).send({ version: '1.1.0', bundleUrl: 'https://example.com/2.zip', sha256: 'b'.repeat(64) }));
    const rollout = await record(http.post(`/v1/apps/${appId}/rollouts`).set(ctx.admin).send({ channel: 'production', version: '1.1.0', baselineVersion: '1.0.0', percent: 100 }));

    // Every device endpoint, valid and invalid, carrying the canary.
    const consent = { deviceId: CANARY, granted: true, purposes: ['telemetry'], policyVersion: 'v1', source: 'sdk' };
    expect((await record(http.post('/v1/consent').set(ingest).send(consent))).status).toBe(201);
    await record(http.post('/v1/consent').set(ingest).send({ ...consent, granted: 'yes' }));
    const batch = await record(http.post('/v1/events').set(ingest).send({ events: [event(), event({ type: 'crash' }), event({ type: 'nonsense' }), event({ occurredAt: 'never' })] }));
    expect(batch.status).toBe(202);
    await record(http.post('/v1/events').set(ingest).send({ events: [{ deviceId: CANARY }], extra: CANARY }));
    // As a field name, inside malformed JSON, and with an unknown key (cases from ingest-canary.test.ts).
    await record(http.post('/v1/events').set(ingest).send({ events: [{ ...event(), [CANARY]: 1 }] }));
    await record(http.post('/v1/events').set(ingest).set('Content-Type', 'application/json').send(`{"events":[{"deviceId":"${CANARY}"`));
    await record(http.post('/v1/events').set({ Authorization: 'Bearer ogi_unknown' }).send({ events: [event()] }));
    const check = { deviceId: CANARY, channel: 'production', platform: 'android', currentVersion: '1.0.0', nativeVersion: '1.0.0' };
    expect((await record(http.post('/v1/update-check').set(ingest).send(check))).status).toBe(200);
    await record(http.post('/v1/update-check').set(ingest).send({ ...check, platform: 'toaster' }));
    await record(http.post('/v1/update-check').set({ Authorization: `Bearer ${CANARY}` }).send(check));

    if (rollout.status === 201) {
      const id = JSON.parse(rollout.text).id as string;
      await record(http.post(`/v1/apps/${appId}/rollouts/${id}/pause`).set(ctx.admin).send({ reason: 'canary check' }));
      await record(http.post(`/v1/apps/${appId}/rollouts/${id}/resume`).set(ctx.admin).send({ reason: 'canary check' }));
    }
    await new Promise((r) => setTimeout(r, 1500)); // let counter flushes and listeners run
    const pid = ctx.container.pseudonyms.pid(appId, CANARY);
    const db = ctx.container.mongo.db!;
    // Positive control before the erasure removes them: the events arrived, under the pseudonym.
    expect(JSON.stringify(await db.collection('events').find().toArray())).toContain(pid);

    // Privacy: the device asks for its export, then the privacy team erases it; workers run both.
    const deviceRequest = await record(http.post('/v1/privacy/device-requests').set(ingest).send({ type: 'export', deviceId: CANARY }));
    expect(deviceRequest.status).toBe(202);
    expect(await settled(String(JSON.parse(deviceRequest.text).id))).toBe('completed');
    await record(http.post('/v1/privacy/device-requests').set(ingest).send({ type: 'export', deviceId: CANARY, purpose: 42 }));
    const erasure = await record(http.post('/v1/privacy/requests').set(ctx.admin).send({ appId, type: 'delete', deviceId: CANARY, jurisdiction: 'gdpr' }));
    expect(erasure.status).toBe(202);
    expect(await settled(String(JSON.parse(erasure.text).id))).toBe('completed');
    await waitFor(async () => receiver!.received.length > 0, 15_000, 'a webhook delivery');

    const collections = (await db.listCollections().toArray()).map((c) => c.name);
    const stored = new Map<string, string>();
    for (const name of collections) stored.set(name, JSON.stringify(await db.collection(name).find().toArray()));
    const redis = await redisDump(ctx.config.queuePrefix);
    const logs = ctx.logs.join('\n');

    // Positive controls: the pseudonym is kept where it must be, audit and webhooks did happen.
    expect(stored.get('suppressions') ?? '').toContain(pid);
    expect(stored.get('audit_entries') ?? '').toContain('rollout.');
    expect(stored.get('audit_entries') ?? '').toContain('privacy.');
    expect(JSON.parse(stored.get('webhook_deliveries') ?? '[]').length).toBeGreaterThan(0);
    const wire = receiver!.received.map((r) => `${JSON.stringify(r.headers)}\n${r.body}`).join('\n');

    for (const form of FORMS) {
      for (const [name, text] of stored) expect(text.includes(form), `collection ${name} holds the canary (${form})`).toBe(false);
      expect(redis.includes(form), `Redis holds the canary (${form})`).toBe(false);
      expect(wire.includes(form), `a delivered webhook holds the canary (${form})`).toBe(false);
      expect(logs.includes(form), `a log line holds the canary (${form})`).toBe(false);
      expect(responses.some((r) => r.includes(form)), `a response echoes the canary (${form})`).toBe(false);
    }
    console.log(
      `[security-canary] scanned ${collections.length} collections (${collections.join(', ')}), ${redis.split('\n').length / 2} Redis keys, ` +
        `${ctx.logs.length} log lines, ${responses.length} responses, ${receiver!.received.length} delivered webhooks: canary absent in ${FORMS.length} encodings`,
    );
  });
});
