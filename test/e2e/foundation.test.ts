import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestContext, type TestContext } from '../helpers/test-context.js';

let ctx: TestContext;

beforeAll(async () => {
  ctx = await createTestContext();
});
afterAll(async () => {
  await ctx.close();
});

describe('durable writes', () => {
  it('acknowledges writes only once they are journaled, and the server takes that write concern', async () => {
    const events = ctx.container.mongo.db!.collection('journal_probe');
    expect(events.writeConcern).toMatchObject({ journal: true });
    await expect(events.insertOne({ _id: 'probe' } as never)).resolves.toMatchObject({ acknowledged: true });
    await events.drop();
  });
});

describe('ops endpoints', () => {
  it('answers liveness and readiness when the database and Redis are up', async () => {
    expect((await ctx.http.get('/healthz')).body).toEqual({ status: 'ok' });
    const ready = await ctx.http.get('/readyz');
    expect(ready.status).toBe(200);
    expect(ready.body).toEqual({ status: 'ok', checks: { mongodb: 'up', redis: 'up' } });
  });

  it('exposes Prometheus metrics with an HTTP latency histogram', async () => {
    await ctx.http.get('/healthz');
    const res = await ctx.http.get('/metrics');
    expect(res.status).toBe(200);
    expect(res.text).toContain('otaguard_http_request_duration_seconds_bucket');
    expect(res.text).toMatch(/route="\/healthz"/);
  });

  it('serves the OpenAPI document and a docs page', async () => {
    const doc = await ctx.http.get('/openapi.json');
    expect(doc.body.openapi).toBe('3.1.0');
    expect(Object.keys(doc.body.paths)).toContain('/v1/apps');
    const page = await ctx.http.get('/docs');
    expect(page.type).toBe('text/html');
    expect(page.text).toContain('swagger-ui');
    const asset = await ctx.http.get('/docs/assets/swagger-ui-bundle.js');
    expect(asset.status).toBe(200);
  });

  it('sends security headers and a request id', async () => {
    const res = await ctx.http.get('/healthz');
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['content-security-policy']).toContain("default-src 'self'");
    expect(res.headers['x-powered-by']).toBeUndefined();
    expect(res.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });
});

describe('admin authentication', () => {
  it('rejects anonymous and unknown keys with 401', async () => {
    const anonymous = await ctx.http.get('/v1/apps');
    expect(anonymous.status).toBe(401);
    expect(anonymous.body.error.code).toBe('unauthenticated');
    expect(anonymous.body.error.requestId).toBe(anonymous.headers['x-request-id']);
    const wrong = await ctx.http.get('/v1/apps').set({ Authorization: 'Bearer not-a-real-key' });
    expect(wrong.status).toBe(401);
    const malformed = await ctx.http.get('/v1/apps').set({ Authorization: 'Basic Zm9vOmJhcg==' });
    expect(malformed.status).toBe(401);
  });

  it('rejects anonymous writes before looking at the body', async () => {
    const res = await ctx.http.post('/v1/apps').send({ nonsense: true });
    expect(res.status).toBe(401);
  });
});

describe('apps', () => {
  it('returns the ingest key once and stores only its hash', async () => {
    const created = await ctx.http.post('/v1/apps').set(ctx.admin).send({ appId: 'com.example.shop', name: 'Shop' });
    expect(created.status).toBe(201);
    const ingestKey = created.body.ingestKey as string;
    expect(ingestKey).toMatch(/^ogi_[A-Za-z0-9_-]{43}$/);

    const listed = await ctx.http.get('/v1/apps').set(ctx.admin);
    expect(listed.status).toBe(200);
    expect(listed.body.apps).toEqual([{ appId: 'com.example.shop', name: 'Shop', createdAt: created.body.createdAt }]);
    expect(JSON.stringify(listed.body)).not.toContain(ingestKey);

    const stored = await ctx.container.mongo.db!.collection('apps').find().toArray();
    expect(JSON.stringify(stored)).not.toContain(ingestKey);
    expect(stored[0]?.ingestKeyHash).toBe(createHash('sha256').update(ingestKey).digest('hex'));
  });

  it('refuses a second app with the same id with 409', async () => {
    await ctx.http.post('/v1/apps').set(ctx.admin).send({ appId: 'com.example.twice', name: 'A' });
    const again = await ctx.http.post('/v1/apps').set(ctx.admin).send({ appId: 'com.example.twice', name: 'B' });
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe('app_exists');
  });
});

describe('bad input', () => {
  const post = (body: string | object, type = 'application/json') =>
    ctx.http.post('/v1/apps').set(ctx.admin).set('Content-Type', type).send(body);

  it('names the offending field of a validation error', async () => {
    const wrongType = await post({ appId: 'com.example.x', name: 42 });
    expect(wrongType.status).toBe(400);
    expect(wrongType.body.error).toMatchObject({ code: 'validation_failed', details: { field: 'body.name' } });

    const unknown = await post({ appId: 'com.example.x', name: 'X', isAdmin: true });
    expect(unknown.status).toBe(400);
    expect(unknown.body.error.details).toEqual({ field: 'body.isAdmin', reason: 'is not an allowed field' });

    const missing = await post({ name: 'X' });
    expect(missing.body.error.details).toEqual({ field: 'body.appId', reason: 'is required' });

    const pattern = await post({ appId: 'Not An App Id', name: 'X' });
    expect(pattern.status).toBe(400);
    expect(pattern.body.error.details.field).toBe('body.appId');
  });

  it('answers malformed JSON, a missing body and a wrong content type with 400', async () => {
    const malformed = await post('{"appId": ', 'application/json');
    expect(malformed.status).toBe(400);
    expect(malformed.body.error.code).toBe('malformed_json');
    const notJson = await post('appId=x', 'application/x-www-form-urlencoded');
    expect(notJson.status).toBe(400);
    expect(notJson.body.error.details.field).toBe('body');
    const scalar = await post('"just a string"');
    expect(scalar.status).toBe(400);
  });

  it('answers an oversized body with 413', async () => {
    const res = await post({ appId: 'com.example.big', name: 'x'.repeat(2_000_000) });
    expect(res.status).toBe(413);
    expect(res.body.error.code).toBe('payload_too_large');
  });

  it('answers unknown routes with a JSON 404', async () => {
    const res = await ctx.http.get('/v1/nothing-here');
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe('route_not_found');
  });

  it('rejects unknown query parameters', async () => {
    const res = await ctx.http.get('/v1/apps?evil=1').set(ctx.admin);
    expect(res.status).toBe(400);
    expect(res.body.error.details.field).toBe('query.evil');
  });
});
