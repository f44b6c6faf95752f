import express from 'express';
import fc from 'fast-check';
import supertest from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorHandler } from '../../src/http/error-handler.js';
import { listOperations, loadOpenApiDocument, type OpenApiOperation } from '../../src/http/openapi-document.js';
import { AUTHZ_MATRIX } from '../helpers/authz-matrix.js';
import { arbitraryFor, bodySchemaOf, parametersOf } from '../helpers/authz-fuzz-arbitraries.js';
import { captureLogs } from '../helpers/log-capture.js';
import { createTestContext, type TestContext } from '../helpers/test-context.js';
import { expectSafeResponse } from '../helpers/authz-safety.js';

const doc = loadOpenApiDocument();
const operations = listOperations();
const withBody = operations.filter((op) => bodySchemaOf(op) !== undefined);
let ctx: TestContext;
let appId: string;
let ingest: { Authorization: string };
const counts = { requests: 0, statuses: new Map<number, number>() };
let namedFields = 0;

function headersFor(op: OpenApiOperation): Record<string, string> {
  const auth = AUTHZ_MATRIX[op.operationId]?.auth ?? 'admin';
  return auth === 'public' ? {} : auth === 'device' ? ingest : ctx.admin;
}

function urlFor(op: OpenApiOperation, values: Record<string, string> = {}): string {
  return op.path.replace(/\{(\w+)\}/g, (_m, name: string) => encodeURIComponent(values[name] ?? (name === 'appId' ? appId : name === 'channel' ? 'beta' : 'does-not-exist')));
}

async function send(op: OpenApiOperation, opts: { url?: string; raw?: string; body?: unknown; query?: Record<string, string> } = {}) {
  let req = supertest(ctx.app)[op.method as 'post'](opts.url ?? urlFor(op)).set(headersFor(op));
  if (opts.query) req = req.query(opts.query);
  if (opts.raw !== undefined) req = req.set('Content-Type', 'application/json').send(opts.raw);
  else if (opts.body !== undefined) req = req.set('Content-Type', 'application/json').send(JSON.stringify(opts.body));
  const res = await req;
  counts.requests++;
  counts.statuses.set(res.status, (counts.statuses.get(res.status) ?? 0) + 1);
  expectSafeResponse(res, `${op.operationId} ${opts.url ?? ''}`);
  return res;
}

/** Path values the schema accepts (ids that exist nowhere, but well-formed). */
function validPath(op: OpenApiOperation): Record<string, string> {
  const out: Record<string, string> = {};
  for (const p of parametersOf(op, doc).filter((q) => q.in === 'path')) {
    out[p.name] = p.name === 'appId' ? appId : p.name === 'channel' ? 'beta' : String(fc.sample(arbitraryFor(p.schema, doc), { numRuns: 1, seed: 7 })[0]);
  }
  return out;
}

/** A body the schema accepts, so one field at a time can be replaced by an injection. */
function validSample(op: OpenApiOperation): Record<string, unknown> {
  const [sample] = fc.sample(arbitraryFor(bodySchemaOf(op), doc), { numRuns: 1, seed: 42 });
  return (sample ?? {}) as Record<string, unknown>;
}

beforeAll(async () => {
  ctx = await createTestContext({ config: { authFailureLimit: 100_000 } });
  ({ appId, ingest } = await ctx.createApp('com.security.app'));
}, 60_000);

afterAll(async () => {
  const statuses = [...counts.statuses].sort((a, b) => a[0] - b[0]).map(([s, n]) => `${s}×${n}`).join(' ');
  console.log(`[security] ${counts.requests} requests over ${operations.length} operations (${namedFields} body fields proven to refuse {"$gt": ""} by name); statuses: ${statuses}`);
  await ctx?.close();
});

describe('oversized and deeply nested JSON', () => {
  it.each(withBody.map((op) => [op.operationId, op] as const))('%s: 413 above the body limit', async (_id, op) => {
    const res = await send(op, { raw: `{"pad": "${'x'.repeat(ctx.config.bodyLimitBytes + 10)}"}` });
    expect(res.status).toBe(413);
  });

  it.each(withBody.map((op) => [op.operationId, op] as const))('%s: 4xx for JSON nested 100k deep, inside the limit', async (_id, op) => {
    const depth = 100_000;
    const arrays = await send(op, { raw: `${'['.repeat(depth)}${']'.repeat(depth)}` });
    expect(arrays.status).toBeGreaterThanOrEqual(400);
    const objects = await send(op, { raw: `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}` });
    expect(objects.status).toBeGreaterThanOrEqual(400);
    // Nested inside the first declared field, where a handler might walk it.
    const field = Object.keys(validSample(op))[0] ?? 'x';
    const inField = await send(op, { raw: `{"${field}": ${'['.repeat(depth)}${']'.repeat(depth)}}` });
    // A batch answers 202 and rejects the bad item on its own (one bad event never sinks a batch).
    if (inField.status < 400) expect(inField.body).toMatchObject({ accepted: 0, rejected: [{ index: 0 }] });
  });
});

describe('injection-shaped values never reach a query operator', () => {
  const OPERATOR = { $gt: '' };

  it.each(withBody.map((op) => [op.operationId, op] as const))('%s: {"$gt": ""} in every body field is refused, naming the field', async (_id, op) => {
    const sample = validSample(op);
    const url = urlFor(op, validPath(op));
    // The field can only be named when the rest of the request is valid.
    const baselineValid = (await send(op, { url, body: sample })).body?.error?.code !== 'validation_failed';
    for (const field of Object.keys(sample)) {
      const res = await send(op, { url, body: { ...sample, [field]: OPERATOR } });
      expect(res.status, `${op.operationId} body.${field}`).toBeGreaterThanOrEqual(400);
      if (baselineValid) {
        expect(res.body.error.code).toBe('validation_failed');
        expect(String(res.body.error.details?.field)).toMatch(new RegExp(`^body\\.${field}\\b`));
        namedFields++;
      }
      const where = await send(op, { body: { ...sample, [field]: '$where' } });
      expect(where.status).toBeLessThan(500);
    }
    // Inside arrays of objects too (e.g. events[].deviceId).
    for (const [field, value] of Object.entries(sample)) {
      const first = Array.isArray(value) ? value[0] : undefined;
      if (!first || typeof first !== 'object') continue;
      for (const inner of Object.keys(first)) {
        const res = await send(op, { url, body: { ...sample, [field]: [{ ...first, [inner]: OPERATOR }] } });
        expect(res.status).toBeLessThan(500);
        if (res.status < 300) expect(JSON.stringify(res.body)).toMatch(/rejected|invalid/);
      }
    }
  });

  it.each(operations.filter((op) => parametersOf(op, doc).some((p) => p.in === 'query')).map((op) => [op.operationId, op] as const))(
    '%s: operator-shaped query parameters are refused',
    async (_id, op) => {
      for (const param of parametersOf(op, doc).filter((p) => p.in === 'query')) {
        const bracket = await send(op, { query: { [`${param.name}[$gt]`]: '' } });
        expect(bracket.status, `${param.name}[$gt]`).toBe(400);
        const twice = await send(op, { url: `${urlFor(op)}?${param.name}=a&${param.name}=b` });
        expect(twice.status, `${param.name} twice`).toBe(400);
        const json = await send(op, { query: { [param.name]: '{"$gt":""}' } });
        expect(json.status).toBeLessThan(500);
      }
    },
  );

  it('an appId of {"$gt": ""} matches no existing app, in the body or the path', async () => {
    const before = (await ctx.http.get('/v1/apps').set(ctx.admin)).body.apps;
    for (const op of operations.filter((o) => AUTHZ_MATRIX[o.operationId]?.auth === 'admin')) {
      if (op.path.includes('{appId}')) {
        for (const value of ['{"$gt":""}', '[$gt]', '$where']) {
          const res = await send(op, { url: urlFor(op, { appId: value }), body: op.method === 'get' ? undefined : validSample(op) });
          expect(res.status, `${op.operationId} path ${value}`).toBeGreaterThanOrEqual(400);
          expect(JSON.stringify(res.body)).not.toContain(appId);
        }
      }
      const props = Object.keys((bodySchemaOf(op) ? validSample(op) : {}) as object);
      if (props.includes('appId') || op.operationId === 'createApp') {
        const res = await send(op, { body: { ...validSample(op), appId: { $gt: '' } } });
        expect(res.status, `${op.operationId} body appId`).toBe(400);
        expect(res.body.error.details.field).toBe('body.appId');
      }
    }
    // Nothing was created or changed.
    expect((await ctx.http.get('/v1/apps').set(ctx.admin)).body.apps).toEqual(before);
  });
});

describe('responses', () => {
  it('carry the security headers on success, client errors and auth errors alike', async () => {
    for (const [path, headers] of [['/healthz', {}], ['/v1/apps', {}], ['/v1/apps', ctx.admin], ['/v1/nothing', {}], ['/docs', {}]] as const) {
      const res = await supertest(ctx.app).get(path).set(headers);
      expect(res.headers['strict-transport-security'], path).toContain('max-age=');
      expect(res.headers['x-frame-options'], path).toBe('SAMEORIGIN');
      expect(res.headers['referrer-policy'], path).toBe('no-referrer');
      expect(res.headers['cross-origin-opener-policy'], path).toBe('same-origin');
      expect(res.headers['x-content-type-options'], path).toBe('nosniff');
      expect(res.headers['x-powered-by'], path).toBeUndefined();
    }
  });

  it('turn an unexpected error into a bare 500 with a request id: no stack, no message, no path', async () => {
    const { logger, lines } = captureLogs();
    const app = express();
    app.get('/boom', () => {
      throw new TypeError("Cannot read properties of undefined (reading 'x') at /work/main/src/secret-file.ts:12");
    });
    app.use(errorHandler(logger));
    const res = await supertest(app).get('/boom');
    expect(res.status).toBe(500);
    expect(res.body).toEqual({ error: { code: 'internal', message: 'Internal error', requestId: '' } });
    expect(res.text).not.toMatch(/secret-file|TypeError|Cannot read/);
    expect(lines.join('\n')).toContain('unhandled error');
  });
});
