import supertest from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PERMISSIONS, ROLE_PERMISSIONS, type Permission } from '../../src/access/permissions.js';
import { listOperations, type OpenApiOperation } from '../../src/http/openapi-document.js';
import { createCallers, type Callers, type Headers } from '../helpers/authz-callers.js';
import { ALL_ROLES, AUTHZ_MATRIX, type MatrixRow, type RequestParts } from '../helpers/authz-matrix.js';
import { createTestContext, type TestContext } from '../helpers/test-context.js';

let ctx: TestContext;
let callers: Callers;
const operations = listOperations();
const seen: { op: string; caller: string; expected: string; status: number }[] = [];

beforeAll(async () => {
  // Hundreds of deliberate 401s come from one address: lift the failure throttle for this file.
  ctx = await createTestContext({ config: { authFailureLimit: 100_000 } });
  callers = await createCallers(ctx);
}, 120_000);

afterAll(async () => {
  const byExpectation = new Map<string, Map<number, number>>();
  for (const { expected, status } of seen) {
    const counts = byExpectation.get(expected) ?? new Map<number, number>();
    counts.set(status, (counts.get(status) ?? 0) + 1);
    byExpectation.set(expected, counts);
  }
  const summary = [...byExpectation].map(([expected, counts]) => `${expected}: ${[...counts].map(([s, n]) => `${s}×${n}`).join(' ')}`);
  console.log(
    `[authz-matrix] ${operations.length} operations, ${new Set(seen.map((s) => s.caller)).size} caller kinds, ${seen.length} requests\n  ${summary.join('\n  ')}`,
  );
  await ctx?.close();
});

const GARBAGE_BODY = { $where: 'sleep(1000)', appId: { $gt: '' }, nested: [[{ $ne: null }]], n: 1e308 };

function fill(op: OpenApiOperation, row: MatrixRow, channel: string, garbage: boolean): RequestParts & { url: string } {
  const parts = row.sample?.({ appId: callers.appId, channel }) ?? {};
  const url = op.path.replace(/\{(\w+)\}/g, (_m, name: string) => {
    if (garbage) return name === 'appId' ? callers.appId : 'does-not-exist';
    return encodeURIComponent(parts.path?.[name] ?? (name === 'appId' ? callers.appId : name === 'channel' ? channel : 'does-not-exist'));
  });
  return garbage ? { url, body: GARBAGE_BODY, query: { evil: '{"$gt":""}' } } : { url, ...parts };
}

async function call(op: OpenApiOperation, headers: Headers, parts: RequestParts & { url: string }) {
  const agent = supertest(ctx.app);
  const method = op.method as 'get' | 'post' | 'put' | 'patch' | 'delete';
  let req = agent[method](parts.url).set(headers);
  if (parts.query) req = req.query(parts.query);
  if (parts.body !== undefined) req = req.send(parts.body as object);
  return req;
}

type Expectation = 'pass' | 401 | 403;

async function expectCall(op: OpenApiOperation, caller: string, headers: Headers, parts: RequestParts & { url: string }, expected: Expectation) {
  const res = await call(op, headers, parts);
  seen.push({ op: op.operationId, caller, expected: String(expected), status: res.status });
  const where = `${op.method.toUpperCase()} ${op.path} (${op.operationId}) as ${caller}: got ${res.status} ${JSON.stringify(res.body?.error ?? '')}`;
  if (expected === 'pass') {
    expect(res.status, where).not.toBe(401);
    expect(res.status, where).not.toBe(403);
    // 5xx answers are the fuzz suite's business (security-fuzz.test.ts); here only the gate matters.
    expect(res.body?.error?.code, `${where} — documented but not routed`).not.toBe('route_not_found');
  } else {
    expect(res.status, where).toBe(expected);
  }
}

describe('the matrix covers the contract', () => {
  it('has a row for every operation in openapi/otaguard.yaml', () => {
    const missing = operations.map((op) => op.operationId).filter((id) => !(id in AUTHZ_MATRIX));
    expect(missing, `add rows to test/helpers/authz-matrix.ts for: ${missing.join(', ')}`).toEqual([]);
  });

  it('has no row for an operation that no longer exists', () => {
    const ids = new Set(operations.map((op) => op.operationId));
    expect(Object.keys(AUTHZ_MATRIX).filter((id) => !ids.has(id))).toEqual([]);
  });

  it('declares app scope for every admin operation with {appId} in its path, and a role list for every admin row', () => {
    for (const op of operations) {
      const row = AUTHZ_MATRIX[op.operationId];
      if (!row || row.auth !== 'admin') continue;
      expect(row.allow?.length, op.operationId).toBeGreaterThan(0);
      if (op.path.includes('{appId}')) expect(row.scope?.app, op.operationId).toBe('path');
    }
  });

  it('each admin operation documents one permission, and its row allows exactly the roles holding it', () => {
    for (const op of operations) {
      const row = AUTHZ_MATRIX[op.operationId];
      if (!row || row.auth !== 'admin') continue;
      const text = `${String(op.definition.summary ?? '')} ${String(op.definition.description ?? '')}`;
      const documented = [...text.matchAll(/[Pp]ermission `([a-z-]+:[a-z]+)`/g)].map((m) => m[1]!);
      expect(documented, `${op.operationId} must say "Permission \`…\`" in its description`).toHaveLength(1);
      const permission = documented[0] as Permission;
      expect(PERMISSIONS, op.operationId).toContain(permission);
      const holders = ALL_ROLES.filter((role) => ROLE_PERMISSIONS[role].has(permission));
      expect([...(row.allow ?? [])].sort(), `${op.operationId} (${permission})`).toEqual([...holders].sort());
    }
  });

  it('marks public only the unauthenticated ops endpoints and documents the others as secured', () => {
    for (const op of operations) {
      const row = AUTHZ_MATRIX[op.operationId];
      const security = op.definition.security as unknown[] | undefined;
      if (row?.auth === 'public') expect(security, `${op.operationId} is public in the matrix but not security: [] in the contract`).toEqual([]);
      else expect(security?.length === 0, `${op.operationId} is secured in the matrix but security: [] in the contract`).toBe(false);
    }
  });
});

describe.each(operations.map((op) => [op.operationId, op] as const))('%s', (operationId, op) => {
  const row = AUTHZ_MATRIX[operationId];

  it.skipIf(!row)('lets exactly the right callers through', async () => {
    const r = row!;
    const sample = fill(op, r, 'beta', false);
    const garbage = fill(op, r, 'beta', true);

    if (r.pending) {
      const res = await call(op, r.auth === 'device' ? callers.ingestKey : ctx.admin, sample);
      expect(res.body?.error?.code, `${operationId} is routed now: remove "pending" from its row and check the expectations`).toBe(
        'route_not_found',
      );
      return;
    }

    if (r.auth === 'public') {
      for (const [name, headers] of [['anonymous', callers.anonymous], ['admin', callers.role.admin], ['wrong key', callers.wrongKey]] as const) {
        await expectCall(op, name, headers, sample, 'pass');
      }
      return;
    }

    const unauthenticated: [string, Headers][] = [
      ['anonymous', callers.anonymous],
      ['wrong key', callers.wrongKey],
      ['revoked key', callers.revokedKey],
      ['expired key', callers.expiredKey],
    ];

    if (r.auth === 'device') {
      for (const [name, headers] of unauthenticated) await expectCall(op, name, headers, garbage, 401);
      for (const role of ALL_ROLES) await expectCall(op, `api key ${role}`, callers.role[role], sample, 401);
      await expectCall(op, 'ingest key', callers.ingestKey, sample, 'pass');
      return;
    }

    for (const [name, headers] of [...unauthenticated, ['ingest key', callers.ingestKey] as [string, Headers]]) {
      await expectCall(op, name, headers, garbage, 401);
    }
    const allow = new Set(r.allow);
    for (const role of ALL_ROLES) {
      if (!allow.has(role)) {
        await expectCall(op, role, callers.role[role], sample, 403);
        await expectCall(op, `${role} (garbage body, unknown ids)`, callers.role[role], garbage, 403);
        continue;
      }
      await expectCall(op, role, callers.role[role], sample, 'pass');
      if (r.scope?.app || r.unscopedOnly) {
        await expectCall(op, `${role} scoped to another app`, callers.otherApp[role], sample, 403);
        await expectCall(op, `${role} scoped to another app (garbage)`, callers.otherApp[role], garbage, 403);
      }
      if (r.unscopedOnly) await expectCall(op, `${role} scoped to app+beta`, callers.betaOnly[role], sample, 403);
      else if (r.scope?.app || r.scope?.channel) await expectCall(op, `${role} scoped to app+beta`, callers.betaOnly[role], sample, 'pass');
      if (r.scope?.channel) {
        const production = fill(op, r, 'production', false);
        await expectCall(op, `${role} scoped to beta, on production`, callers.betaOnly[role], production, 403);
        await expectCall(op, `${role} unscoped, on production`, callers.role[role], production, role === 'qa' ? 403 : 'pass');
      }
    }
  });
});
