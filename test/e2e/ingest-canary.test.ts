import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { consent, event, postEvents, type IngestHeader } from '../helpers/ingest-fixtures.js';
import { createTestContext, REDIS_URL, type TestContext } from '../helpers/test-context.js';

const CANARY = `CANARY-${randomBytes(8).toString('hex')}`;
let ctx: TestContext;
let appId: string;
let ingest: IngestHeader;

beforeAll(async () => {
  ctx = await createTestContext({ config: { ingestDeviceEventsPerMinute: 20 } });
  ({ appId, ingest } = await ctx.createApp('com.test.canary'));
});
afterAll(async () => {
  await ctx.close();
});

/** Every value of every Redis key matching `pattern`, with the key itself. */
async function redisDump(redis: Redis, pattern: string): Promise<string[]> {
  const out: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next;
    for (const key of keys) {
      out.push(key);
      const type = await redis.type(key);
      if (type === 'string') out.push(String(await redis.get(key)));
      else if (type === 'hash') out.push(JSON.stringify(await redis.hgetall(key)));
      else if (type === 'list') out.push(JSON.stringify(await redis.lrange(key, 0, -1)));
      else if (type === 'set') out.push(JSON.stringify(await redis.smembers(key)));
      else if (type === 'zset') out.push(JSON.stringify(await redis.zrange(key, '0', '-1')));
      else if (type === 'stream') out.push(JSON.stringify(await redis.xrange(key, '-', '+')));
    }
  } while (cursor !== '0');
  return out;
}

describe('a raw device id', () => {
  it('reaches no collection, no Redis key or value and no log line, on any path', async () => {
    // The happy path: consent, events, a withdrawal, events refused for lack of consent.
    expect((await consent(ctx, ingest, CANARY, true, ['telemetry', 'crash_reports'])).status).toBe(201);
    expect((await postEvents(ctx, ingest, [event(CANARY), event(CANARY, { type: 'crash', errorCode: 'E1' })])).body.accepted).toBe(2);
    const resend = Array.from({ length: 3 }, () => event(CANARY));
    await postEvents(ctx, ingest, [...resend, ...resend]);
    // Error paths: invalid events, too old, a rate-limited batch, bad bodies, an unknown key.
    const bad = await postEvents(ctx, ingest, [
      event(CANARY, { type: 'nope' }),
      event(CANARY, { occurredAt: '2001-01-01T00:00:00Z' }),
      { ...event(CANARY), [CANARY]: 1 },
      event(`${CANARY}${'x'.repeat(300)}`),
    ]);
    expect(bad.body.rejected).toHaveLength(4);
    expect(JSON.stringify(bad.body)).not.toContain(CANARY);
    await consent(ctx, ingest, CANARY, false);
    expect((await postEvents(ctx, ingest, [event(CANARY)])).body.rejected).toMatchObject([{ code: 'consent_required' }]);
    const limited = await postEvents(ctx, ingest, Array.from({ length: 30 }, () => event(CANARY)));
    expect(limited.status).toBe(429);
    expect(JSON.stringify(limited.body)).not.toContain(CANARY);
    const badConsent = await ctx.http.post('/v1/consent').set(ingest).send({ deviceId: CANARY, granted: 'maybe', purposes: [CANARY], policyVersion: '1', source: 's' });
    expect(badConsent.status).toBe(400);
    expect(JSON.stringify(badConsent.body)).not.toContain(CANARY);
    await ctx.http.post('/v1/events').set({ Authorization: 'Bearer ogi_unknown' }).send({ events: [event(CANARY)] });
    await ctx.http.post('/v1/events').set(ingest).set('Content-Type', 'application/json').send(`{"events":[{"deviceId":"${CANARY}"`);

    // The device's data is there, under its pid.
    const db = ctx.container.mongo.db!;
    const pid = ctx.container.pseudonyms.pid(appId, CANARY);
    expect(await db.collection('events').countDocuments({ pid })).toBe(5);

    const collections = await db.listCollections().toArray();
    expect(collections.map((c) => c.name)).toEqual(expect.arrayContaining(['events', 'devices', 'consents', 'device_consents']));
    for (const { name } of collections) {
      const docs = JSON.stringify(await db.collection(name).find().toArray());
      expect(docs, `collection ${name}`).not.toContain(CANARY);
    }

    const redis = new Redis(REDIS_URL);
    try {
      const ours = await redisDump(redis, `${ctx.config.queuePrefix}*`);
      expect(ours.some((key) => key.includes(pid))).toBe(true); // the rate limiter did key by pid
      // Entry by entry: on a shared Redis all of it joined can exceed the longest string V8 allows.
      expect(ours.filter((entry) => entry.includes(CANARY))).toEqual([]);
      expect((await redisDump(redis, '*')).filter((entry) => entry.includes(CANARY))).toEqual([]);
    } finally {
      redis.disconnect();
    }

    expect(ctx.logs.length).toBeGreaterThan(10);
    expect(ctx.logs.filter((line) => line.includes(CANARY))).toEqual([]);
  });
});
