import { randomBytes, randomUUID } from 'node:crypto';
import supertest from 'supertest';
import { afterAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/app.js';
import { testConfig, type Config } from '../../src/config.js';
import { createContainer, type Container } from '../../src/container.js';
import { consent, event, postEvents, stored } from '../helpers/ingest-fixtures.js';
import { captureLogs } from '../helpers/log-capture.js';
import { StallProxy } from '../helpers/ingest-stall-proxy.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';
import { createTestContext, deleteRedisPrefix, dropDatabase, MONGO_BASE_URL, uniqueName, type TestContext } from '../helpers/test-context.js';

const contexts: TestContext[] = [];

/** Closes first (its last metrics flush still writes), then drops the database over a direct connection. */
async function closeAndDrop(container: Container, dbName: string): Promise<void> {
  await container.close();
  await dropDatabase(`${MONGO_BASE_URL}/${dbName}`).catch(() => undefined);
}

/**
 * A container whose database is reached at `mongoUrl` (a proxy the test controls), with one app and
 * one consented device whose five-event batch the test sends.
 */
async function ingestThrough(mongoUrl: string, prefix: string, overrides: Partial<Config>, appId: string) {
  const config = testConfig(
    { queuePrefix: prefix, ...overrides },
    {
      MONGODB_URL: mongoUrl,
      REDIS_URL: 'redis://127.0.0.1:6379',
      BOOTSTRAP_ADMIN_KEY: `adm_${randomBytes(24).toString('hex')}`,
      MASTER_KEY: randomBytes(32).toString('hex'),
    },
  );
  const container = await createContainer(config, { logger: captureLogs().logger });
  const http = supertest(createApp(container));
  const created = await http.post('/v1/apps').set({ Authorization: `Bearer ${config.bootstrapAdminKey}` }).send({ appId, name: appId });
  const ingest = { Authorization: `Bearer ${created.body.ingestKey as string}` };
  const id = `device-${randomUUID()}`;
  await http.post('/v1/consent').set(ingest).send({ deviceId: id, granted: true, purposes: ['telemetry'], policyVersion: '1', source: 'test' });
  const batch = Array.from({ length: 5 }, () => event(id));
  return { container, http, ingest, id, batch };
}

/** Resends until the database answers again (up to ~10 s of 503s). */
async function resendUntilAnswered(http: ReturnType<typeof supertest>, ingest: { Authorization: string }, batch: unknown[]) {
  let again = await http.post('/v1/events').set(ingest).send({ events: batch });
  for (let i = 0; again.status === 503 && i < 40; i++) {
    await new Promise((r) => setTimeout(r, 250));
    again = await http.post('/v1/events').set(ingest).send({ events: batch });
  }
  return again;
}
async function context(config: Partial<Config>): Promise<TestContext> {
  const ctx = await createTestContext({ config });
  contexts.push(ctx);
  return ctx;
}
afterAll(async () => {
  await Promise.all(contexts.map((ctx) => ctx.close()));
});

describe('rate limits', () => {
  it('answers 429 with Retry-After when a device goes over its per-minute budget, keyed by pid', async () => {
    const ctx = await context({ ingestDeviceEventsPerMinute: 5 });
    const { appId, ingest } = await ctx.createApp();
    const id = `device-${randomUUID()}`;
    await consent(ctx, ingest, id, true);
    expect((await postEvents(ctx, ingest, Array.from({ length: 4 }, () => event(id)))).status).toBe(202);
    const over = await postEvents(ctx, ingest, [event(id), event(id)]);
    expect(over.status).toBe(429);
    expect(over.body.error).toMatchObject({ code: 'rate_limited' });
    expect(Number(over.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    // Another device of the same app is not affected.
    const other = `device-${randomUUID()}`;
    await consent(ctx, ingest, other, true);
    expect((await postEvents(ctx, ingest, [event(other)])).status).toBe(202);

    const keys = await ctx.container.redis.keys(`${ctx.config.queuePrefix}:rl:ingest-device:*`);
    expect(keys).toContain(`${ctx.config.queuePrefix}:rl:ingest-device:${appId}:${ctx.container.pseudonyms.pid(appId, id)}`);
  });

  it('answers 429 when the app goes over its per-second budget', async () => {
    const ctx = await context({ ingestAppEventsPerSecond: 30 });
    const { ingest } = await ctx.createApp();
    const batch = () => Array.from({ length: 20 }, () => event(`device-${randomUUID()}`));
    const statuses = (await Promise.all([1, 2, 3].map(() => postEvents(ctx, ingest, batch())))).map((r) => r.status).sort();
    expect(statuses).toEqual([202, 429, 429]);
  });
});

describe('overload', () => {
  it('answers 503 with Retry-After beyond the in-flight bound, and stores exactly what it acknowledged', async () => {
    const ctx = await context({ ingestMaxInFlight: 2 });
    const { ingest } = await ctx.createApp();
    const ids = Array.from({ length: 30 }, () => `device-${randomUUID()}`);
    for (const id of ids) await consent(ctx, ingest, id, true);
    const responses = await Promise.all(ids.map((id) => postEvents(ctx, ingest, Array.from({ length: 10 }, () => event(id)))));
    const refused = responses.filter((r) => r.status === 503);
    expect(refused.length).toBeGreaterThan(0);
    expect(refused.every((r) => Number(r.headers['retry-after']) >= 1)).toBe(true);
    const accepted = responses.filter((r) => r.status === 202).reduce((n, r) => n + r.body.accepted, 0);
    expect(accepted).toBeGreaterThan(0);
    expect(await stored(ctx, 'events')).toHaveLength(accepted);
  });

  it('applies its own 1 MiB batch limit even when BODY_LIMIT_BYTES allows more', async () => {
    const ctx = await context({ bodyLimitBytes: 4_194_304 });
    const { ingest } = await ctx.createApp();
    const res = await postEvents(ctx, ingest, Array.from({ length: 300 }, () => event('d', { errorCode: 'x'.repeat(4000) })));
    expect(res.status).toBe(413);
    expect(res.body.error).toMatchObject({ code: 'batch_too_large' });
  });
});

describe('database outage', () => {
  const proxy = new TcpProxy(27017);
  afterAll(async () => {
    await proxy.stop();
  });

  it('answers 503 and acknowledges nothing while the database is down; resending later stores each event once', async () => {
    const port = await proxy.start();
    const dbName = uniqueName('ingest_down');
    const prefix = uniqueName('q');
    const { container, http, ingest, id, batch } = await ingestThrough(
      `mongodb://127.0.0.1:${port}/${dbName}?serverSelectionTimeoutMS=1000&connectTimeoutMS=1000`,
      prefix,
      { ingestTimeoutMs: 1500 },
      'com.test.down',
    );
    try {

      await proxy.stop();
      const down = await http.post('/v1/events').set(ingest).send({ events: batch });
      expect(down.status).toBe(503);
      expect(Number(down.headers['retry-after'])).toBeGreaterThanOrEqual(1);
      expect(JSON.stringify(down.body)).not.toContain(id);

      await proxy.start(port);
      const again = await resendUntilAnswered(http, ingest, batch);
      expect(again.status).toBe(202);
      expect(again.body.accepted + again.body.duplicates).toBe(5);
      expect(await container.mongo.db!.collection('events').countDocuments()).toBe(5);
    } finally {
      await closeAndDrop(container, dbName);
      await deleteRedisPrefix(prefix);
    }
  });
});

describe('slow database', () => {
  const proxy = new StallProxy(27017);
  afterAll(async () => {
    await proxy.stop();
  });

  it('answers 503 within INGEST_TIMEOUT_MS while the database hangs, and frees the slot once it answers', async () => {
    const port = await proxy.start();
    const prefix = uniqueName('q');
    const dbName = uniqueName('ingest_slow');
    const { container, http, ingest, batch } = await ingestThrough(
      `mongodb://127.0.0.1:${port}/${dbName}`,
      prefix,
      { ingestTimeoutMs: 800, ingestMaxInFlight: 4 },
      'com.test.slow',
    );
    try {

      proxy.stall();
      const started = Date.now();
      const slow = await Promise.all([1, 2, 3, 4, 5].map(() => http.post('/v1/events').set(ingest).send({ events: batch })));
      expect(Date.now() - started).toBeLessThan(3000);
      expect(slow.map((r) => r.status)).toEqual([503, 503, 503, 503, 503]);
      expect(slow.every((r) => Number(r.headers['retry-after']) >= 1)).toBe(true);
      // Four hung batches hold every in-flight slot: the fifth was refused at once ("at capacity").
      expect(slow.filter((r) => /capacity/.test(String(r.body.error.message)))).toHaveLength(1);

      proxy.resume();
      const again = await resendUntilAnswered(http, ingest, batch);
      expect(again.status).toBe(202);
      expect(again.body.accepted + again.body.duplicates).toBe(5);
      expect(await container.mongo.db!.collection('events').countDocuments()).toBe(5);
    } finally {
      proxy.resume();
      await closeAndDrop(container, dbName);
      await deleteRedisPrefix(prefix);
    }
  });
});
