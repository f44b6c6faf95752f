import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { canonicalJson } from '../../src/crypto/canonical-json.js';
import { createTestContext, type TestContext } from '../helpers/test-context.js';

let ctx: TestContext;
type StoredEntry = { _id: number } & Record<string, unknown>;
const entries = () => ctx.container.mongo.db!.collection<StoredEntry>('audit_entries');
const anchor = () => ctx.container.mongo.db!.collection<Record<string, unknown>>('audit_anchor');

async function resetLog(count: number): Promise<void> {
  await entries().deleteMany({});
  await anchor().deleteMany({});
  // A fresh AuditLog instance would not share the in-process cache of the last write; the container's does.
  (ctx.container.audit as unknown as { lastWritten: unknown }).lastWritten = undefined;
  for (let i = 0; i < count; i++) {
    await ctx.container.audit.record({ actor: 'system', action: 'test.step', target: `thing:${i}`, details: { i, nested: { list: [1, 'two', []] } } });
  }
}

async function verify() {
  const res = await ctx.http.get('/v1/audit/verify').set(ctx.admin);
  expect(res.status).toBe(200);
  return res.body as { valid: boolean; checked: number; firstBrokenAt?: number; reason?: string; head?: { seq: number; hash: string } };
}

beforeAll(async () => {
  ctx = await createTestContext();
});
afterAll(async () => {
  await ctx.close();
});

describe('tamper evidence', () => {
  beforeEach(async () => {
    await resetLog(10);
  });

  it('verifies an untouched chain and reports its head', async () => {
    const result = await verify();
    expect(result).toMatchObject({ valid: true, checked: 10, head: { seq: 10 } });
    const last = await entries().findOne({ _id: 10 });
    expect(result.head?.hash).toBe(last?.hash);
  });

  it('detects an edited detail, actor, time or outcome', async () => {
    await entries().updateOne({ _id: 4 }, { $set: { 'details.i': 400 } });
    expect(await verify()).toMatchObject({ valid: false, checked: 3, firstBrokenAt: 4, reason: 'entry_modified' });
    await resetLog(10);
    await entries().updateOne({ _id: 7 }, { $set: { actor: 'key_someone-else' } });
    expect(await verify()).toMatchObject({ valid: false, firstBrokenAt: 7 });
    await resetLog(10);
    await entries().updateOne({ _id: 1 }, { $set: { at: new Date('2020-01-01') } });
    expect(await verify()).toMatchObject({ valid: false, firstBrokenAt: 1 });
    await resetLog(10);
    await entries().updateOne({ _id: 10 }, { $set: { outcome: 'failure' } });
    expect(await verify()).toMatchObject({ valid: false, checked: 9, firstBrokenAt: 10 });
  });

  it('detects an edit even when the attacker recomputes every SHA-256 after it (the MAC key is not in the DB)', async () => {
    const docs = await entries().find().sort({ _id: 1 }).toArray();
    let prevHash = docs[3]!.prevHash as string;
    for (const doc of docs.slice(3)) {
      const { _id, hash: _h, mac: _m, ...rest } = doc;
      const edited = { ...rest, seq: _id, prevHash, ...(_id === 4 ? { details: { i: 'rewritten' } } : {}) };
      const hash = createHash('sha256').update(canonicalJson(edited)).digest('hex');
      await entries().updateOne({ _id }, { $set: { details: edited.details, prevHash, hash } });
      prevHash = hash;
    }
    expect(await verify()).toMatchObject({ valid: false, checked: 3, firstBrokenAt: 4, reason: 'entry_modified' });
  });

  it('detects a deleted middle entry', async () => {
    await entries().deleteOne({ _id: 5 });
    expect(await verify()).toMatchObject({ valid: false, checked: 4, firstBrokenAt: 5, reason: 'sequence_gap' });
  });

  it('detects a deleted first entry', async () => {
    await entries().deleteOne({ _id: 1 });
    expect(await verify()).toMatchObject({ valid: false, checked: 0, firstBrokenAt: 1 });
  });

  it('detects a deleted middle entry even when later entries are renumbered', async () => {
    await entries().deleteOne({ _id: 5 });
    const later = await entries().find({ _id: { $gt: 5 } }).sort({ _id: 1 }).toArray();
    for (const doc of later) {
      await entries().deleteOne({ _id: doc._id });
      await entries().insertOne({ ...doc, _id: (doc._id as number) - 1 });
    }
    expect(await verify()).toMatchObject({ valid: false, checked: 4, firstBrokenAt: 5 });
  });

  it('detects a deleted last entry (tail truncation) through the anchor', async () => {
    await entries().deleteOne({ _id: 10 });
    expect(await verify()).toMatchObject({ valid: false, checked: 9, firstBrokenAt: 10, reason: 'tail_truncated' });
    await entries().deleteMany({ _id: { $gt: 6 } });
    expect(await verify()).toMatchObject({ valid: false, checked: 6, firstBrokenAt: 7, reason: 'tail_truncated' });
  });

  it('keeps a truncation visible after new entries are appended (the gap is not healed)', async () => {
    await entries().deleteMany({ _id: { $gt: 8 } });
    await ctx.container.audit.record({ actor: 'system', action: 'test.after', target: 'x' });
    (ctx.container.audit as unknown as { lastWritten: unknown }).lastWritten = undefined;
    await ctx.container.audit.record({ actor: 'system', action: 'test.after', target: 'y' });
    const result = await verify();
    expect(result).toMatchObject({ valid: false, checked: 8, firstBrokenAt: 9 });
  });

  it('detects a forged or deleted anchor', async () => {
    await anchor().updateOne({}, { $set: { seq: 3 } });
    expect((await verify()).valid).toBe(false);
    await resetLog(10);
    await anchor().deleteMany({});
    expect(await verify()).toMatchObject({ valid: false, reason: 'anchor_missing' });
  });

  it('cannot see a rollback of both the tail and the anchor to an earlier state; a head pinned elsewhere can', async () => {
    // The documented limit: someone with write access who saved an old anchor can restore it with the tail cut.
    const pinned = (await verify()).head;
    const oldAnchor = await entries().findOne({ _id: 6 });
    await entries().deleteMany({ _id: { $gt: 6 } });
    await anchor().updateOne({}, { $set: { seq: 6, hash: oldAnchor!.hash, mac: oldAnchor!.mac } });
    const result = await verify();
    expect(result.valid).toBe(true);
    expect(result.head).not.toEqual(pinned);
    expect(result.head!.seq).toBeLessThan(pinned!.seq);
  });
});

describe('concurrent appends from several processes', () => {
  it('three containers on one database appending in parallel keep one valid chain', async () => {
    await resetLog(0);
    const { createContainer } = await import('../../src/container.js');
    const { testConfig } = await import('../../src/config.js');
    const { captureLogs } = await import('../helpers/log-capture.js');
    const { MONGO_BASE_URL, REDIS_URL } = await import('../helpers/test-context.js');
    const others = await Promise.all(
      [1, 2].map(() =>
        createContainer(
          testConfig(
            { queuePrefix: ctx.config.queuePrefix },
            { MONGODB_URL: `${MONGO_BASE_URL}/${ctx.dbName}`, REDIS_URL, MASTER_KEY: ctx.config.masterKey.toString('hex') },
          ),
          { logger: captureLogs().logger },
        ),
      ),
    );
    try {
      const writers = [ctx.container, ...others];
      const PER_WRITER = 150;
      const started = Date.now();
      // Bursts (batched within a process) and, at the same time, one-at-a-time loops that contend on every entry.
      const LOOPS = 4;
      const PER_LOOP = 25;
      await Promise.all([
        ...writers.flatMap((c, w) =>
          Array.from({ length: PER_WRITER }, (_, i) => c.audit.record({ actor: `writer-${w}`, action: 'test.parallel', target: `n:${i}`, details: { w, i } })),
        ),
        ...writers.flatMap((c, w) =>
          Array.from({ length: LOOPS }, async (_, l) => {
            for (let i = 0; i < PER_LOOP; i++) await c.audit.record({ actor: `looper-${w}`, action: 'test.loop', target: `l:${l}:${i}` });
          }),
        ),
      ]);
      const total = writers.length * (PER_WRITER + LOOPS * PER_LOOP);
      console.log(`[audit] ${total} entries appended by ${writers.length} processes in parallel in ${Date.now() - started} ms`);
      const docs = await entries().find().sort({ _id: 1 }).toArray();
      expect(docs.map((d) => d._id)).toEqual(Array.from({ length: total }, (_, i) => i + 1));
      for (let w = 0; w < writers.length; w++) {
        expect(docs.filter((d) => d.actor === `writer-${w}`)).toHaveLength(PER_WRITER);
        expect(docs.filter((d) => d.actor === `looper-${w}`)).toHaveLength(LOOPS * PER_LOOP);
      }
      expect(await verify()).toMatchObject({ valid: true, checked: total });
      // Every process verifies the same chain: the MAC key comes from the shared MASTER_KEY.
      expect(await others[0]!.audit.verify()).toMatchObject({ valid: true, checked: total });
    } finally {
      await Promise.all(others.map((c) => c.close()));
    }
  }, 120_000);
});

describe('GET /v1/audit', () => {
  let t0: Date;
  beforeAll(async () => {
    await resetLog(0);
    t0 = new Date();
    await ctx.container.audit.record({ actor: 'key_a', action: 'rollout.pause', target: 'rollout:1', appId: 'com.example.a', details: { reason: 'spike' } });
    await ctx.container.audit.record({ actor: 'system', action: 'rollout.rollback', target: 'rollout:1', appId: 'com.example.a' });
    await ctx.container.audit.record({ actor: 'key_b', action: 'rollout.pause', target: 'rollout:2', appId: 'com.example.b' });
    await ctx.container.audit.record({ actor: 'key_a', action: 'api_key.create', target: 'api_key:x', details: { deviceId: 'raw-device-1234', apiKey: 'oga_secret' } });
  });

  const list = (query: string, as: Record<string, string> = ctx.admin) => ctx.http.get(`/v1/audit${query}`).set(as);

  it('filters by action, actor and time, oldest first, with hashes', async () => {
    const byAction = await list('?action=rollout.pause');
    expect(byAction.status).toBe(200);
    expect(byAction.body.entries.map((e: { target: string }) => e.target)).toEqual(['rollout:1', 'rollout:2']);
    expect(byAction.body.entries[0]).toMatchObject({ seq: 1, actor: 'key_a', appId: 'com.example.a', outcome: 'success', details: { reason: 'spike' } });
    expect(byAction.body.entries[0].hash).toMatch(/^[0-9a-f]{64}$/);
    expect(byAction.body.entries[1].prevHash).toBe((await list('?limit=2')).body.entries[1].hash);
    expect((await list('?actor=system')).body.entries.map((e: { action: string }) => e.action)).toEqual(['rollout.rollback']);
    const future = new Date(Date.now() + 60_000).toISOString();
    expect((await list(`?from=${encodeURIComponent(future)}`)).body.entries).toEqual([]);
    expect((await list(`?from=${encodeURIComponent(t0.toISOString())}&to=${encodeURIComponent(future)}`)).body.entries).toHaveLength(4);
  });

  it('pages with limit and after', async () => {
    const first = await list('?limit=3');
    expect(first.body.entries).toHaveLength(3);
    expect(first.body.nextAfter).toBe(3);
    const second = await list(`?limit=3&after=${first.body.nextAfter}`);
    expect(second.body.entries.map((e: { seq: number }) => e.seq)).toEqual([4]);
    expect(second.body.nextAfter).toBeUndefined();
  });

  it('redacts device ids and secrets that a caller put in details', async () => {
    const [entry] = (await list('?action=api_key.create')).body.entries;
    expect(entry.details).toEqual({ deviceId: '[redacted]', apiKey: '[redacted]' });
    const raw = JSON.stringify(await entries().find().toArray());
    expect(raw).not.toContain('raw-device-1234');
    expect(raw).not.toContain('oga_secret');
  });

  it('is for admin and monitoring; scoped monitoring sees only its apps and cannot verify the whole chain', async () => {
    const make = async (body: Record<string, unknown>) =>
      ({ Authorization: `Bearer ${(await ctx.http.post('/v1/api-keys').set(ctx.admin).send(body)).body.key}` });
    const monitoring = await make({ name: 'm', role: 'monitoring' });
    expect((await list('', monitoring)).status).toBe(200);
    expect((await ctx.http.get('/v1/audit/verify').set(monitoring)).status).toBe(200);
    for (const role of ['developer', 'qa', 'privacy']) {
      const key = await make({ name: role, role });
      expect((await list('?action=x', key)).status).toBe(403);
      expect((await ctx.http.get('/v1/audit/verify').set(key)).status).toBe(403);
    }
    expect((await list('')).status).toBe(200);
    expect((await ctx.http.get('/v1/audit')).status).toBe(401);
    expect((await ctx.http.get('/v1/audit/verify')).status).toBe(401);

    const scoped = await make({ name: 'scoped', role: 'monitoring', appIds: ['com.example.a'] });
    const seen = (await list('', scoped)).body.entries as { appId?: string }[];
    expect(seen.length).toBeGreaterThanOrEqual(2);
    expect(seen.every((e) => e.appId === 'com.example.a')).toBe(true);
    expect((await ctx.http.get('/v1/audit/verify').set(scoped)).status).toBe(403);
  });

  it('never passes an operator from the query string to the database', async () => {
    for (const query of ['?actor[$gt]=', '?actor[%24ne]=x', '?action=a&action=b', '?limit=0', '?limit=abc', '?after=-1', '?from=yesterday', '?evil=1']) {
      const res = await list(query);
      expect(res.status, query).toBe(400);
      expect(res.body.error.code).toBe('validation_failed');
    }
    // A string that looks like an operator is just a string: it matches nothing.
    expect((await list(`?actor=${encodeURIComponent('{"$gt": ""}')}`)).body.entries).toEqual([]);
    expect((await list(`?action=${encodeURIComponent('$where')}`)).body.entries).toEqual([]);
  });
});
