import { createPublicKey } from 'node:crypto';
import { Schema } from 'mongoose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWorkers, type Workers } from '../../jobs/worker.js';
import { markPidCollection, pidCollections } from '../../src/privacy/pid-registry.js';
import { verifyReceipt, type SignedReceipt } from '../../src/privacy/receipts.js';
import { createTestContext, type TestContext } from '../helpers/test-context.js';
import { afterFirstSuppressionRead, seedDevice, settled } from './privacy-helpers.js';

const fixtureSchema = new Schema({ _id: String, appId: String, subject: String, n: Number }, { versionKey: false, collection: 'test_erasure_fixture' });
markPidCollection(fixtureSchema, { category: 'test fixture', purpose: 'prove erasure walks the registry', retention: 'test only', pidField: 'subject' });

let ctx: TestContext;
let workers: Workers;
let app: { appId: string; ingest: { Authorization: string } };
const A = 'erase-device-A';
const B = 'erase-device-B';
const C = 'object-device-C';

const db = () => ctx.container.mongo.db!;
const pidOf = (deviceId: string): string => ctx.container.pseudonyms.pid(app.appId, deviceId);

/** Records of the pid in every registered collection, by collection name. */
async function holdings(pid: string): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const c of pidCollections(ctx.container.mongo)) {
    out[c.collectionName] = await db().collection(c.collectionName).countDocuments({ appId: app.appId, [c.meta.pidField]: pid });
  }
  return out;
}

async function erase(deviceId: string): Promise<{ id: string; body: Record<string, unknown> }> {
  const res = await ctx.http.post('/v1/privacy/requests').set(ctx.admin).send({ appId: app.appId, type: 'delete', deviceId, jurisdiction: 'gdpr' });
  expect(res.status).toBe(202);
  return { id: res.body.id as string, body: await settled(ctx, res.body.id as string) };
}

beforeAll(async () => {
  ctx = await createTestContext();
  ctx.container.mongo.model('TestErasureFixture', fixtureSchema);
  app = await ctx.createApp('com.privacy.erasure');
  await seedDevice(ctx, app.ingest, A, 300);
  await seedDevice(ctx, app.ingest, B, 100);
  await seedDevice(ctx, app.ingest, C, 50);
  await db().collection('test_erasure_fixture').insertMany([
    { _id: 'x1', appId: app.appId, subject: pidOf(A), n: 1 },
    { _id: 'x2', appId: app.appId, subject: pidOf(A), n: 2 },
    { _id: 'x3', appId: app.appId, subject: pidOf(B), n: 3 },
  ] as never[]);
  workers = startWorkers(ctx.container);
}, 120_000);

afterAll(async () => {
  await workers?.close();
  await ctx?.close();
});

describe('erasure', () => {
  let first: { id: string; body: Record<string, unknown> };
  let before: Record<string, number>;
  let othersBefore: Record<string, number>;
  let exportId: string;

  it('suppresses first, deletes exactly the device’s records everywhere, keeps the rest, verifies zero', async () => {
    const exported = await ctx.http.post('/v1/privacy/requests').set(ctx.admin).send({ appId: app.appId, type: 'export', deviceId: A, jurisdiction: 'gdpr' });
    exportId = exported.body.id as string;
    expect((await settled(ctx, exportId)).status).toBe('completed');
    before = await holdings(pidOf(A));
    othersBefore = await holdings(pidOf(B));
    expect(before).toMatchObject({ events: 300, devices: 1, consents: 1, device_consents: 1, test_erasure_fixture: 2 });

    first = await erase(A);
    expect(first.body.status).toBe('completed');
    const steps = (first.body.steps as Array<{ name: string; status: string }>).map((s) => s.name);
    expect(steps[0]).toBe('suppress');
    expect(steps.slice(-2)).toEqual(['verify-erasure', 'receipt']);
    expect(steps).toEqual(expect.arrayContaining(['erase:events', 'erase:test_erasure_fixture', 'purge-exports']));

    const after = await holdings(pidOf(A));
    for (const c of pidCollections(ctx.container.mongo)) {
      if (c.meta.keepOnErasure) continue;
      expect(after[c.collectionName], c.collectionName).toBe(0);
    }
    expect(after.suppressions).toBe(1);
    expect(await holdings(pidOf(B))).toEqual(othersBefore);
    const suppression = await db().collection('suppressions').findOne({ appId: app.appId, pid: pidOf(A) });
    expect(suppression).toMatchObject({ reason: 'erasure', requestId: first.id });
  });

  it('purges the device’s earlier export archive', async () => {
    expect(await db().collection('privacy_export_chunks').countDocuments({ _id: { $regex: `^${exportId}/` } } as never)).toBe(0);
    const res = await ctx.http.get(`/v1/privacy/requests/${exportId}/export`).set(ctx.admin);
    expect(res.body.error.code).toBe('export_expired');
  });

  it('issues a signed receipt with per-collection counts that verifies with the published key', async () => {
    const res = await ctx.http.get(`/v1/privacy/requests/${first.id}/receipt`).set(ctx.admin);
    expect(res.status).toBe(200);
    const signed = res.body as SignedReceipt;
    const expected = Object.fromEntries(
      pidCollections(ctx.container.mongo)
        .filter((c) => !c.meta.keepOnErasure)
        .map((c) => [c.collectionName, before[c.collectionName]]),
    );
    expect(signed.receipt.erased).toEqual(expected);
    expect(signed.receipt).toMatchObject({ seq: 1, prevHash: '0'.repeat(64), requestId: first.id, pid: pidOf(A), appId: app.appId });
    expect(signed.receipt.kept.map((k) => k.collection)).toEqual(expect.arrayContaining(['suppressions', 'privacy_requests', 'privacy_receipts']));
    expect(signed.receipt.verifiedEmpty.sort()).toEqual(Object.keys(expected).sort());

    const key = (await ctx.http.get('/v1/privacy/receipt-key')).body as { publicKeyPem: string; keyId: string };
    expect(key.keyId).toBe(signed.receipt.keyId);
    const publicKey = createPublicKey(key.publicKeyPem);
    expect(verifyReceipt(signed, publicKey)).toBe(true);

    const tamperedCount = structuredClone(signed);
    tamperedCount.receipt.erased.events = (tamperedCount.receipt.erased.events ?? 0) - 1;
    expect(verifyReceipt(tamperedCount, publicKey)).toBe(false);
    const forgedHash = { ...tamperedCount, hash: (await import('../../src/crypto/keys.js')).sha256Hex(JSON.stringify(tamperedCount.receipt)) };
    expect(verifyReceipt(forgedHash, publicKey)).toBe(false);
    const otherSignature = { ...signed, signature: Buffer.alloc(64, 1).toString('base64') };
    expect(verifyReceipt(otherSignature, publicKey)).toBe(false);
  });

  it('refuses the deleted device from then on: events and consent', async () => {
    const events = await ctx.http
      .post('/v1/events')
      .set(app.ingest)
      .send({ events: [{ eventId: crypto.randomUUID(), deviceId: A, type: 'installed', version: '1.2.0', channel: 'production', platform: 'android', occurredAt: new Date(Date.now() - 1000).toISOString() }] });
    expect(events.status).toBe(202);
    expect(events.body).toMatchObject({ accepted: 0, rejected: [{ index: 0, code: 'suppressed' }] });
    expect(await db().collection('events').countDocuments({ appId: app.appId, pid: pidOf(A) })).toBe(0);
  });

  it('chains receipts: the next one links to the previous hash, and editing a stored one breaks the chain', async () => {
    const second = await erase(B);
    const res = await ctx.http.get(`/v1/privacy/requests/${second.id}/receipt`).set(ctx.admin);
    const firstReceipt = (await ctx.http.get(`/v1/privacy/requests/${first.id}/receipt`).set(ctx.admin)).body as SignedReceipt;
    expect(res.body.receipt).toMatchObject({ seq: 2, prevHash: firstReceipt.hash, erased: { events: 100, test_erasure_fixture: 1 } });
    expect(await ctx.container.privacy.receipts.verifyChain()).toEqual({ valid: true, checked: 2 });

    await db().collection('privacy_receipts').updateOne({ _id: 1 } as never, { $set: { 'receipt.erased.events': 299 } });
    expect(await ctx.container.privacy.receipts.verifyChain()).toMatchObject({ valid: false, firstBrokenAt: 1 });
    await db().collection('privacy_receipts').updateOne({ _id: 1 } as never, { $set: { 'receipt.erased.events': 300 } });
    expect(await ctx.container.privacy.receipts.verifyChain()).toEqual({ valid: true, checked: 2 });
  });

  it('a second erasure of the same device within the window links to the first', async () => {
    const again = await ctx.http.post('/v1/privacy/requests').set(ctx.admin).send({ appId: app.appId, type: 'delete', deviceId: A, jurisdiction: 'gdpr' });
    expect(again.status).toBe(202);
    expect(again.body).toMatchObject({ id: first.id, duplicate: true, status: 'completed' });
  });

  it('retracts a batch that passed the suppression check just before an erasure and landed after it', async () => {
    const D = 'erase-device-D-racing';
    await seedDevice(ctx, app.ingest, D, 0); // consent only: its first batch is the one that races
    // The exact interleaving: ingest reads "not suppressed" from the database, then the whole erasure runs
    // to completion, then ingest writes.
    const erased = await afterFirstSuppressionRead(ctx, pidOf(D), () => erase(D), async () => {
      const batch = Array.from({ length: 5 }, (_, i) => ({
        eventId: crypto.randomUUID(),
        deviceId: D,
        type: 'app_ready',
        version: '1.3.0',
        channel: 'production',
        platform: 'android',
        occurredAt: new Date(Date.now() - 1000 - i).toISOString(),
      }));
      const res = await ctx.http.post('/v1/events').set(app.ingest).send({ events: batch });
      expect(res.status).toBe(202);
      expect(res.body.accepted).toBe(0);
      expect(res.body.rejected).toEqual(batch.map((_, index) => expect.objectContaining({ index, code: 'suppressed' })));
    });
    expect(erased?.body.status).toBe('completed');
    const left = await holdings(pidOf(D));
    expect(left).toMatchObject({ events: 0, devices: 0, consents: 0, device_consents: 0 });
  });

  it('audits every step as the system', async () => {
    const entries = await ctx.container.audit.find({ limit: 1000 });
    const mine = entries.filter((e) => e.target === `privacy-request:${first.id}`);
    const actions = mine.map((e) => e.action);
    expect(actions).toEqual(expect.arrayContaining(['privacy.request.create', 'privacy.request.verified', 'privacy.request.processing', 'privacy.step.done', 'privacy.request.completed']));
    expect(mine.filter((e) => e.action === 'privacy.step.done').every((e) => e.actor === 'system')).toBe(true);
    expect(mine.filter((e) => e.action === 'privacy.step.done')).toHaveLength((first.body.steps as unknown[]).length);
  });
});

describe('objection', () => {
  it('suppresses the device with the purpose recorded, keeps its data and refuses what follows', async () => {
    const filed = await ctx.http.post('/v1/privacy/device-requests').set(app.ingest).send({ type: 'objection', deviceId: C, purpose: 'telemetry', jurisdiction: 'ccpa' });
    expect(filed.status).toBe(202);
    expect(filed.body).toMatchObject({ type: 'objection', purpose: 'telemetry', jurisdiction: 'ccpa', acknowledgementDueAt: expect.any(String) });
    const done = await settled(ctx, filed.body.id as string);
    expect(done).toMatchObject({ status: 'completed', steps: [{ name: 'suppress', status: 'done' }] });
    expect(await db().collection('suppressions').findOne({ appId: app.appId, pid: pidOf(C) })).toMatchObject({ reason: 'objection', purpose: 'telemetry' });
    expect(await db().collection('events').countDocuments({ appId: app.appId, pid: pidOf(C) })).toBe(50);
    const events = await ctx.http
      .post('/v1/events')
      .set(app.ingest)
      .send({ events: [{ eventId: crypto.randomUUID(), deviceId: C, type: 'installed', version: '1.2.0', channel: 'production', platform: 'android', occurredAt: new Date(Date.now() - 1000).toISOString() }] });
    expect(events.body.rejected).toEqual([expect.objectContaining({ code: 'suppressed' })]);

    const receipt = await ctx.http.get(`/v1/privacy/device-requests/${filed.body.id as string}/receipt`).set({ ...app.ingest, 'X-Status-Token': filed.body.statusToken as string });
    expect(receipt.status).toBe(409);
    expect(receipt.body.error.code).toBe('no_receipt');
  });
});
