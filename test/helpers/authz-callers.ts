import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { ApiRole } from '../../src/access/permissions.js';
import type { TestContext } from './test-context.js';
import { ALL_ROLES } from './authz-matrix.js';

export type Headers = Record<string, string>;

export interface Callers {
  appId: string;
  otherAppId: string;
  anonymous: Headers;
  wrongKey: Headers;
  revokedKey: Headers;
  expiredKey: Headers;
  ingestKey: Headers;
  /** Unscoped key per role. */
  role: Record<ApiRole, Headers>;
  /** Per role: a key scoped to another app. */
  otherApp: Record<ApiRole, Headers>;
  /** Per role: a key scoped to the fixture app and the `beta` channel. */
  betaOnly: Record<ApiRole, Headers>;
}

const bearer = (key: string): Headers => ({ Authorization: `Bearer ${key}` });

async function createKey(ctx: TestContext, body: Record<string, unknown>): Promise<{ id: string; headers: Headers }> {
  const res = await ctx.http.post('/v1/api-keys').set(ctx.admin).send(body);
  if (res.status !== 201) throw new Error(`createKey ${JSON.stringify(body)}: ${res.status} ${JSON.stringify(res.body)}`);
  return { id: String(res.body.id), headers: bearer(String(res.body.key)) };
}

async function perRole(ctx: TestContext, extra: Record<string, unknown>): Promise<Record<ApiRole, Headers>> {
  const out = {} as Record<ApiRole, Headers>;
  for (const role of ALL_ROLES) out[role] = (await createKey(ctx, { name: `matrix ${role}`, role, ...extra })).headers;
  return out;
}

/** Every kind of caller the matrix tries, with real keys in the test database. */
export async function createCallers(ctx: TestContext): Promise<Callers> {
  const { appId, ingest } = await ctx.createApp('com.matrix.app');
  const otherAppId = 'com.matrix.other';
  const revoked = await createKey(ctx, { name: 'matrix revoked', role: 'admin' });
  const res = await ctx.http.delete(`/v1/api-keys/${revoked.id}`).set(ctx.admin);
  if (res.status !== 204) throw new Error(`revoke: ${res.status}`);

  // An expired admin key, written directly: the API refuses to create one that is already expired.
  const expiredSecret = `oga_${randomBytes(32).toString('base64url')}`;
  await ctx.container.mongo.db!.collection('api_keys').insertOne({
    _id: `key_${randomUUID()}` as never,
    name: 'matrix expired',
    role: 'admin',
    appIds: [],
    channels: [],
    hash: createHash('sha256').update(expiredSecret).digest('hex'),
    createdAt: new Date(Date.now() - 86_400_000),
    expiresAt: new Date(Date.now() - 1000),
  });

  return {
    appId,
    otherAppId,
    anonymous: {},
    wrongKey: bearer(`oga_${randomBytes(32).toString('base64url')}`),
    revokedKey: revoked.headers,
    expiredKey: bearer(expiredSecret),
    ingestKey: ingest,
    role: await perRole(ctx, {}),
    otherApp: await perRole(ctx, { appIds: [otherAppId] }),
    betaOnly: await perRole(ctx, { appIds: [appId], channels: ['beta'] }),
  };
}
