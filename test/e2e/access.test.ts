import { createHash } from 'node:crypto';
import express from 'express';
import supertest from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.js';
import { createContainer, type Container } from '../../src/container.js';
import { testConfig } from '../../src/config.js';
import { errorHandler } from '../../src/http/error-handler.js';
import { principalOf, requirePermission } from '../../src/http/auth.js';
import { createApp } from '../../src/app.js';
import { captureLogs } from '../helpers/log-capture.js';
import { MONGO_BASE_URL, REDIS_URL, createTestContext, type TestContext } from '../helpers/test-context.js';

let ctx: TestContext;
const clock = new ManualClock('2026-03-01T10:00:00.000Z');

const bearer = (key: string) => ({ Authorization: `Bearer ${key}` });

async function createKey(body: Record<string, unknown>, as = ctx.admin): Promise<{ id: string; key: string; headers: { Authorization: string } }> {
  const res = await ctx.http.post('/v1/api-keys').set(as).send(body);
  if (res.status !== 201) throw new Error(`createKey: ${res.status} ${JSON.stringify(res.body)}`);
  return { id: res.body.id, key: res.body.key, headers: bearer(res.body.key) };
}

beforeAll(async () => {
  ctx = await createTestContext({ clock });
});
afterAll(async () => {
  await ctx.close();
});

describe('API keys', () => {
  it('returns the secret once, lists keys without secrets or hashes, and stores only the hash', async () => {
    const res = await ctx.http.post('/v1/api-keys').set(ctx.admin).send({ name: 'ci deploy', role: 'developer', appIds: ['com.example.a'], channels: ['beta'] });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ name: 'ci deploy', role: 'developer', appIds: ['com.example.a'], channels: ['beta'], status: 'active' });
    const secret = res.body.key as string;
    expect(secret).toMatch(/^oga_[A-Za-z0-9_-]{43}$/);

    const listed = await ctx.http.get('/v1/api-keys').set(ctx.admin);
    expect(listed.status).toBe(200);
    const mine = listed.body.keys.find((k: { id: string }) => k.id === res.body.id);
    expect(mine).toMatchObject({ name: 'ci deploy', status: 'active' });
    expect(mine.key).toBeUndefined();
    const hash = createHash('sha256').update(secret).digest('hex');
    expect(JSON.stringify(listed.body)).not.toContain(secret);
    expect(JSON.stringify(listed.body)).not.toContain(hash);

    const stored = await ctx.container.mongo.db!.collection('api_keys').findOne({ _id: res.body.id as never });
    expect(stored?.hash).toBe(hash);
    expect(JSON.stringify(stored)).not.toContain(secret);
  });

  it('only admins manage keys; anonymous callers get 401 whatever the body', async () => {
    for (const role of ['developer', 'qa', 'monitoring', 'privacy']) {
      const { headers } = await createKey({ name: role, role });
      expect((await ctx.http.post('/v1/api-keys').set(headers).send({ name: 'x', role: 'admin' })).status).toBe(403);
      expect((await ctx.http.post('/v1/api-keys').set(headers).send({ garbage: [1, 2] })).status).toBe(403);
      expect((await ctx.http.get('/v1/api-keys').set(headers)).status).toBe(403);
      expect((await ctx.http.delete('/v1/api-keys/not-even-an-id').set(headers)).status).toBe(403);
    }
    expect((await ctx.http.post('/v1/api-keys').send({ garbage: true })).status).toBe(401);
    expect((await ctx.http.delete('/v1/api-keys/key_00000000-0000-0000-0000-000000000000')).status).toBe(401);
  });

  it('validates the request after authorizing it', async () => {
    const bad = await ctx.http.post('/v1/api-keys').set(ctx.admin).send({ name: 'x', role: 'root' });
    expect(bad.status).toBe(400);
    expect(bad.body.error.details.field).toBe('body.role');
    const extra = await ctx.http.post('/v1/api-keys').set(ctx.admin).send({ name: 'x', role: 'qa', hash: 'abc' });
    expect(extra.body.error.details).toEqual({ field: 'body.hash', reason: 'is not an allowed field' });
    const past = await ctx.http.post('/v1/api-keys').set(ctx.admin).send({ name: 'x', role: 'qa', expiresAt: '2020-01-01T00:00:00Z' });
    expect(past.status).toBe(422);
    expect(past.body.error.code).toBe('expiry_in_past');
    const badId = await ctx.http.delete('/v1/api-keys/nope').set(ctx.admin);
    expect(badId.status).toBe(400);
    const unknown = await ctx.http.delete('/v1/api-keys/key_00000000-0000-0000-0000-000000000000').set(ctx.admin);
    expect(unknown.status).toBe(404);
  });

  it('revokes at once and keeps a revoked key revoked', async () => {
    const { id, headers } = await createKey({ name: 'temp', role: 'monitoring' });
    expect((await ctx.http.get('/v1/apps').set(headers)).status).toBe(200);
    expect((await ctx.http.delete(`/v1/api-keys/${id}`).set(ctx.admin)).status).toBe(204);
    const after = await ctx.http.get('/v1/apps').set(headers);
    expect(after.status).toBe(401);
    expect(after.body.error.code).toBe('unauthenticated');
    expect((await ctx.http.delete(`/v1/api-keys/${id}`).set(ctx.admin)).status).toBe(204);
    const listed = await ctx.http.get('/v1/api-keys').set(ctx.admin);
    expect(listed.body.keys.find((k: { id: string }) => k.id === id)).toMatchObject({ status: 'revoked' });
  });

  it('refuses an expired key with 401', async () => {
    const expiresAt = new Date(clock.now().getTime() + 60_000).toISOString();
    const { headers } = await createKey({ name: 'short', role: 'monitoring', expiresAt });
    expect((await ctx.http.get('/v1/apps').set(headers)).status).toBe(200);
    clock.advance(61_000);
    expect((await ctx.http.get('/v1/apps').set(headers)).status).toBe(401);
    const listed = await ctx.http.get('/v1/api-keys').set(ctx.admin);
    expect(listed.body.keys.find((k: { name: string }) => k.name === 'short')).toMatchObject({ status: 'expired', expiresAt });
  });

  it('records when a key was last used', async () => {
    const { id, headers } = await createKey({ name: 'used', role: 'monitoring' });
    let listed = await ctx.http.get('/v1/api-keys').set(ctx.admin);
    expect(listed.body.keys.find((k: { id: string }) => k.id === id).lastUsedAt).toBeUndefined();
    await ctx.http.get('/v1/apps').set(headers);
    for (let i = 0; i < 50; i++) {
      listed = await ctx.http.get('/v1/api-keys').set(ctx.admin);
      if (listed.body.keys.find((k: { id: string }) => k.id === id).lastUsedAt) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(listed.body.keys.find((k: { id: string }) => k.id === id).lastUsedAt).toBe(clock.now().toISOString());
  });

  it('audits creation and revocation without the secret', async () => {
    const { id, key } = await createKey({ name: 'audited', role: 'qa', channels: ['beta'] });
    await ctx.http.delete(`/v1/api-keys/${id}`).set(ctx.admin);
    const entries = await ctx.container.audit.find({ limit: 1000 });
    const created = entries.find((e) => e.action === 'api_key.create' && e.target === `api_key:${id}`);
    const revoked = entries.find((e) => e.action === 'api_key.revoke' && e.target === `api_key:${id}`);
    expect(created?.details).toMatchObject({ role: 'qa', channels: ['beta'], name: 'audited' });
    expect(created?.actor).toMatch(/^key_/);
    expect(revoked?.actor).toBe(created?.actor);
    const raw = JSON.stringify(await ctx.container.mongo.db!.collection('audit_entries').find().toArray());
    expect(raw).not.toContain(key);
    expect(raw).not.toContain(createHash('sha256').update(key).digest('hex'));
  });

  it('will not revoke the last active unscoped admin key', async () => {
    const keys = (await ctx.http.get('/v1/api-keys').set(ctx.admin)).body.keys as { id: string; role: string; status: string; appIds: string[] }[];
    const roots = keys.filter((k) => k.role === 'admin' && k.status === 'active' && k.appIds.length === 0);
    expect(roots).toHaveLength(1);
    const last = await ctx.http.delete(`/v1/api-keys/${roots[0]!.id}`).set(ctx.admin);
    expect(last.status).toBe(409);
    expect(last.body.error.code).toBe('last_admin_key');
    const second = await createKey({ name: 'second root', role: 'admin' });
    expect((await ctx.http.delete(`/v1/api-keys/${roots[0]!.id}`).set(second.headers)).status).toBe(204);
    expect((await ctx.http.get('/v1/apps').set(ctx.admin)).status).toBe(401);
    ctx.admin = second.headers;
  });

  it('keeps a scoped admin inside its own scope', async () => {
    const scoped = await createKey({ name: 'app admin', role: 'admin', appIds: ['com.example.a'] });
    const wider = await ctx.http.post('/v1/api-keys').set(scoped.headers).send({ name: 'x', role: 'developer' });
    expect(wider.status).toBe(403);
    const other = await ctx.http.post('/v1/api-keys').set(scoped.headers).send({ name: 'x', role: 'developer', appIds: ['com.example.b'] });
    expect(other.status).toBe(403);
    const inside = await ctx.http.post('/v1/api-keys').set(scoped.headers).send({ name: 'x', role: 'developer', appIds: ['com.example.a'] });
    expect(inside.status).toBe(201);
    const listed = (await ctx.http.get('/v1/api-keys').set(scoped.headers)).body.keys as { id: string; appIds: string[] }[];
    expect(listed.length).toBeGreaterThan(0);
    expect(listed.every((k) => k.appIds.length > 0 && k.appIds.every((a) => a === 'com.example.a'))).toBe(true);
    const root = (await ctx.http.get('/v1/api-keys').set(ctx.admin)).body.keys.find((k: { name: string; status: string }) => k.name === 'second root');
    expect((await ctx.http.delete(`/v1/api-keys/${root.id}`).set(scoped.headers)).status).toBe(404);
  });
});

describe('scope enforcement by the middleware', () => {
  // A stand-in route with the same middleware every feature router uses.
  function probeApp(container: Container) {
    const app = express();
    app.use(express.json());
    app.post('/t/:appId/rollouts', requirePermission(container.access, 'rollouts:write'), (_req, res) => {
      res.json({ keyId: principalOf(res).keyId });
    });
    app.use(errorHandler(captureLogs().logger));
    return supertest(app);
  }

  it('gives a developer scoped to beta 403 on production and on other apps', async () => {
    const http = probeApp(ctx.container);
    const dev = await createKey({ name: 'beta dev', role: 'developer', appIds: ['com.example.a'], channels: ['beta'] });
    expect((await http.post('/t/com.example.a/rollouts').set(dev.headers).send({ channel: 'beta' })).status).toBe(200);
    expect((await http.post('/t/com.example.a/rollouts').set(dev.headers).send({ channel: 'production' })).status).toBe(403);
    expect((await http.post('/t/com.example.b/rollouts').set(dev.headers).send({ channel: 'beta' })).status).toBe(403);
    expect((await http.post('/t/com.example.a/rollouts?channel=production').set(dev.headers)).status).toBe(403);
  });

  it('limits an unscoped QA key to the beta/test channels and monitoring to reading', async () => {
    const http = probeApp(ctx.container);
    const qa = await createKey({ name: 'qa', role: 'qa' });
    expect((await http.post('/t/com.example.a/rollouts').set(qa.headers).send({ channel: 'beta' })).status).toBe(200);
    expect((await http.post('/t/com.example.a/rollouts').set(qa.headers).send({ channel: 'production' })).status).toBe(403);
    const monitoring = await createKey({ name: 'mon', role: 'monitoring' });
    expect((await http.post('/t/com.example.a/rollouts').set(monitoring.headers).send({ channel: 'beta' })).status).toBe(403);
  });
});

describe('revocation across processes', () => {
  it('a key revoked through one process is refused by another on its next request', async () => {
    const { logger } = captureLogs();
    const other = await createContainer(
      testConfig(
        { queuePrefix: ctx.config.queuePrefix },
        { MONGODB_URL: `${MONGO_BASE_URL}/${ctx.dbName}`, REDIS_URL, MASTER_KEY: ctx.config.masterKey.toString('hex') },
      ),
      { logger },
    );
    try {
      const second = supertest(createApp(other));
      const { id, headers } = await createKey({ name: 'cross', role: 'monitoring' });
      expect((await second.get('/v1/apps').set(headers)).status).toBe(200);
      expect((await ctx.http.delete(`/v1/api-keys/${id}`).set(ctx.admin)).status).toBe(204);
      expect((await second.get('/v1/apps').set(headers)).status).toBe(401);
    } finally {
      await other.close();
    }
  });
});
