import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestContext, REDIS_URL, type TestContext } from '../helpers/test-context.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';

const LIMIT = 5;
const from = (ip: string) => ({ 'X-Forwarded-For': ip });
const wrong = { Authorization: 'Bearer oga_this-is-not-a-real-key-0000000000000000' };

describe('authentication failure throttle (Redis)', () => {
  let ctx: TestContext;
  beforeAll(async () => {
    ctx = await createTestContext({ config: { authFailureLimit: LIMIT, trustProxy: 1 } });
  });
  afterAll(async () => {
    await ctx.close();
  });

  it('answers 429 with Retry-After after repeated failures, then refuses even a valid key from that source', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < LIMIT + 2; i++) statuses.push((await ctx.http.get('/v1/apps').set(wrong).set(from('203.0.113.7'))).status);
    expect(statuses.slice(0, LIMIT)).toEqual(Array(LIMIT).fill(401));
    expect(statuses.slice(LIMIT)).toEqual([429, 429]);

    const blocked = await ctx.http.get('/v1/apps').set(ctx.admin).set(from('203.0.113.7'));
    expect(blocked.status).toBe(429);
    expect(blocked.body.error.code).toBe('rate_limited');
    expect(Number(blocked.headers['retry-after'])).toBeGreaterThan(0);
    expect(Number(blocked.headers['retry-after'])).toBeLessThanOrEqual(300);

    // Other sources are unaffected.
    expect((await ctx.http.get('/v1/apps').set(ctx.admin).set(from('198.51.100.9'))).status).toBe(200);
    expect((await ctx.http.get('/v1/apps').set(wrong).set(from('198.51.100.9'))).status).toBe(401);
  });

  it('does not count requests that present no key', async () => {
    for (let i = 0; i < LIMIT * 2; i++) expect((await ctx.http.get('/v1/apps').set(from('192.0.2.44'))).status).toBe(401);
    expect((await ctx.http.get('/v1/apps').set(ctx.admin).set(from('192.0.2.44'))).status).toBe(200);
  });

  it('counts wrong ingest keys on device endpoints too; a valid ingest key (public by design) keeps working', async () => {
    const { ingest } = await ctx.createApp('com.throttle.app');
    const wrongIngest = { Authorization: 'Bearer ogi_not-a-real-ingest-key-000000000000000000000' };
    const statuses: number[] = [];
    for (let i = 0; i < LIMIT + 1; i++) {
      statuses.push((await ctx.http.post('/v1/events').set(wrongIngest).set(from('203.0.113.80')).send({ events: [] })).status);
    }
    expect(statuses).toEqual([...Array(LIMIT).fill(401), 429]);
    const valid = await ctx.http.post('/v1/events').set(ingest).set(from('203.0.113.80')).send({ events: [] });
    expect(valid.status).toBe(202);
    // The block is per source, not per kind of key: admin keys from there are refused as well.
    expect((await ctx.http.get('/v1/apps').set(ctx.admin).set(from('203.0.113.80'))).status).toBe(429);
  });

  it('shares counts between processes through Redis, keyed by a hash of the address, never the address', async () => {
    const redis = new Redis(REDIS_URL);
    try {
      const keys = await redis.keys(`${ctx.config.queuePrefix}*`);
      expect(keys.some((k) => k.includes('authfail'))).toBe(true);
      const dump = JSON.stringify(await Promise.all(keys.map(async (k) => [k, await redis.get(k).catch(() => '')])));
      for (const ip of ['203.0.113.7', '198.51.100.9', '192.0.2.44', '203.0.113.80']) expect(dump).not.toContain(ip);
    } finally {
      redis.disconnect();
    }
  });
});

describe('authentication failure throttle when Redis is down', () => {
  let ctx: TestContext;
  const proxy = new TcpProxy(6379);
  beforeAll(async () => {
    const port = await proxy.start();
    ctx = await createTestContext({ config: { authFailureLimit: LIMIT, trustProxy: 1 }, env: { REDIS_URL: `redis://127.0.0.1:${port}` } });
  });
  afterAll(async () => {
    await proxy.stop();
    await ctx.close();
  });

  it('keeps authenticating valid keys and falls back to counting failures in memory', async () => {
    await proxy.stop();
    expect((await ctx.http.get('/v1/apps').set(ctx.admin).set(from('203.0.113.50'))).status).toBe(200);
    const statuses: number[] = [];
    for (let i = 0; i < LIMIT + 1; i++) statuses.push((await ctx.http.get('/v1/apps').set(wrong).set(from('203.0.113.51'))).status);
    expect(statuses).toEqual([...Array(LIMIT).fill(401), 429]);
    expect((await ctx.http.get('/v1/apps').set(ctx.admin).set(from('203.0.113.51'))).status).toBe(429);
    expect((await ctx.http.get('/v1/apps').set(ctx.admin).set(from('203.0.113.52'))).status).toBe(200);
  });
});
