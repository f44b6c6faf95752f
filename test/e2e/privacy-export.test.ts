import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Schema } from 'mongoose';
import { startWorkers, type Workers } from '../../jobs/worker.js';
import { markPidCollection } from '../../src/privacy/pid-registry.js';
import { createTestContext, type TestContext } from '../helpers/test-context.js';
import { binary, parseCsv, readZip, seedDevice, settled } from './privacy-helpers.js';

/** A collection only this test has: the export must find it through the registry alone. */
const fixtureSchema = new Schema({ _id: String, appId: String, pid: String, note: String, at: Date }, { versionKey: false, collection: 'test_pid_fixture' });
markPidCollection(fixtureSchema, { category: 'test fixture', purpose: 'prove the export walks the registry', retention: 'test only' });

let ctx: TestContext;
let workers: Workers;
let app: { appId: string; ingest: { Authorization: string } };
const DEVICE = 'export-device-A';
const OTHER = 'export-device-B';

beforeAll(async () => {
  ctx = await createTestContext();
  ctx.container.mongo.model('TestPidFixture', fixtureSchema);
  app = await ctx.createApp('com.privacy.export');
  await seedDevice(ctx, app.ingest, DEVICE, 450);
  await seedDevice(ctx, app.ingest, OTHER, 120);
  const pid = ctx.container.pseudonyms.pid(app.appId, DEVICE);
  const otherPid = ctx.container.pseudonyms.pid(app.appId, OTHER);
  await ctx.container.mongo.db!.collection('test_pid_fixture').insertMany([
    { _id: 'f1', appId: app.appId, pid, note: 'mine, "quoted", with\nnewline', at: new Date('2026-01-01T00:00:00Z') },
    { _id: 'f2', appId: app.appId, pid: otherPid, note: 'not mine', at: new Date() },
    { _id: 'f3', appId: 'com.other.app', pid, note: 'same pid, other app', at: new Date() },
  ] as never[]);
  workers = startWorkers(ctx.container);
}, 120_000);

afterAll(async () => {
  await workers?.close();
  await ctx?.close();
});

async function download(path: string, headers: Record<string, string>): Promise<{ status: number; body: Buffer; headers: Record<string, string> }> {
  const res = await ctx.http.get(path).set(headers).buffer(true).parse(binary);
  return { status: res.status, body: res.body as Buffer, headers: res.headers as Record<string, string> };
}

describe('access and export', () => {
  let requestId: string;
  let files: Map<string, Buffer>;

  it('exports exactly the device’s records of every registered collection, as JSON and CSV', async () => {
    const created = await ctx.http
      .post('/v1/privacy/requests')
      .set(ctx.admin)
      .send({ appId: app.appId, type: 'export', deviceId: DEVICE, jurisdiction: 'gdpr' });
    expect(created.status).toBe(202);
    requestId = created.body.id;
    const done = await settled(ctx, requestId);
    expect(done.status).toBe('completed');

    const res = await download(`/v1/privacy/requests/${requestId}/export`, ctx.admin);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('application/zip');
    expect(Number(res.headers['content-length'])).toBe(res.body.length);
    files = readZip(res.body);

    const pid = ctx.container.pseudonyms.pid(app.appId, DEVICE);
    const db = ctx.container.mongo.db!;
    for (const name of ['events', 'devices', 'consents', 'device_consents', 'test_pid_fixture']) {
      const direct = await db.collection(name).find({ appId: app.appId, pid }).sort({ _id: 1 }).toArray();
      const exported = JSON.parse(files.get(`${name}.json`)!.toString('utf8')) as Array<Record<string, unknown>>;
      const byId = (a: Record<string, unknown>, b: Record<string, unknown>): number => String(a._id).localeCompare(String(b._id));
      expect(exported.sort(byId), name).toEqual(JSON.parse(JSON.stringify(direct)));
      const csv = parseCsv(files.get(`${name}.csv`)!.toString('utf8'));
      expect(csv.length - 1, `${name}.csv rows`).toBe(direct.length);
      expect(csv.slice(1).map((row) => row[0]).sort(), `${name}.csv ids`).toEqual(direct.map((d) => String(d._id)).sort());
    }
    expect(JSON.parse(files.get('events.json')!.toString()).length).toBe(450);
    expect(JSON.parse(files.get('test_pid_fixture.json')!.toString()).map((d: { _id: string }) => d._id)).toEqual(['f1']);
    const fixtureCsv = parseCsv(files.get('test_pid_fixture.csv')!.toString());
    expect(fixtureCsv[0]).toEqual(['_id', 'appId', 'pid', 'note', 'at', '_other']);
    expect(fixtureCsv[1]).toEqual(['f1', app.appId, pid, 'mine, "quoted", with\nnewline', '2026-01-01T00:00:00.000Z', '']);
  });

  it('describes every collection in the manifest: purpose, category, retention, recipients, source, counts', () => {
    const manifest = JSON.parse(files.get('manifest.json')!.toString('utf8'));
    expect(manifest).toMatchObject({ format: 'otaguard-export/1', requestId, requestType: 'export', appId: app.appId });
    expect(Date.parse(manifest.generatedAt)).not.toBeNaN();
    const events = manifest.collections.find((c: { collection: string }) => c.collection === 'events');
    expect(events).toMatchObject({ records: 450, files: ['events.json', 'events.csv'], category: 'update telemetry events' });
    for (const c of manifest.collections) {
      expect(c.purpose, c.collection).toEqual(expect.any(String));
      expect(c.retention, c.collection).toEqual(expect.any(String));
      expect(c.recipients.length, c.collection).toBeGreaterThan(0);
      expect(c.source, c.collection).toEqual(expect.any(String));
    }
    // A collection without any of the device's records is listed, with no files.
    expect(manifest.collections.find((c: { collection: string }) => c.collection === 'suppressions')).toMatchObject({ records: 0, files: [] });
    expect(files.has('suppressions.json')).toBe(false);
    expect(manifest.collections.map((c: { collection: string }) => c.collection)).toEqual(
      expect.arrayContaining(['events', 'devices', 'consents', 'device_consents', 'suppressions', 'privacy_requests', 'test_pid_fixture']),
    );
  });

  it('stores the archive encrypted: no chunk contains the device’s data in clear or deflated form', async () => {
    const chunks = await ctx.container.mongo.db!.collection('privacy_export_chunks').find({}).toArray();
    expect(chunks.length).toBeGreaterThan(0);
    const pid = ctx.container.pseudonyms.pid(app.appId, DEVICE);
    for (const chunk of chunks) {
      const bytes = Buffer.from((chunk.data as { buffer: Uint8Array }).buffer);
      expect(bytes.includes(Buffer.from(pid))).toBe(false);
      expect(bytes.includes(Buffer.from('download_started'))).toBe(false);
    }
  });

  it('hides the export from other apps’ keys and has none for an erasure', async () => {
    const scoped = await ctx.http.post('/v1/api-keys').set(ctx.admin).send({ name: 'other', role: 'privacy', appIds: ['com.someone.else'] });
    expect(scoped.status).toBe(201);
    const other = { Authorization: `Bearer ${scoped.body.key as string}` };
    expect((await ctx.http.get(`/v1/privacy/requests/${requestId}/export`).set(other)).status).toBe(404);
    expect((await ctx.http.get(`/v1/privacy/requests/${requestId}`).set(other)).status).toBe(404);
    expect((await ctx.http.get('/v1/privacy/requests').set(other)).body.requests).toEqual([]);

    const pending = await ctx.http.post('/v1/privacy/requests').set(ctx.admin).send({ appId: app.appId, type: 'delete', deviceId: 'nobody', jurisdiction: 'ccpa' });
    const early = await ctx.http.get(`/v1/privacy/requests/${pending.body.id as string}/export`).set(ctx.admin);
    expect(early.status).toBe(409);
    expect(early.body.error.code).toBe('no_export');
  });

  it('lets the device download its own export with its status token', async () => {
    const filed = await ctx.http.post('/v1/privacy/device-requests').set(app.ingest).send({ type: 'access', deviceId: OTHER });
    expect(filed.status).toBe(202);
    const { id, statusToken } = filed.body as { id: string; statusToken: string };
    await settled(ctx, id);
    const status = await ctx.http.get(`/v1/privacy/device-requests/${id}`).set({ ...app.ingest, 'X-Status-Token': statusToken });
    expect(status.body).toMatchObject({ status: 'completed', export: { available: true, download: `/v1/privacy/device-requests/${id}/export` } });
    const res = await download(`/v1/privacy/device-requests/${id}/export`, { ...app.ingest, 'X-Status-Token': statusToken });
    expect(res.status).toBe(200);
    const events = JSON.parse(readZip(res.body).get('events.json')!.toString()) as Array<{ pid: string }>;
    expect(events).toHaveLength(120);
    expect(new Set(events.map((e) => e.pid))).toEqual(new Set([ctx.container.pseudonyms.pid(app.appId, OTHER)]));

    const wrongToken = await download(`/v1/privacy/device-requests/${id}/export`, { ...app.ingest, 'X-Status-Token': `ogt_${'A'.repeat(43)}` });
    expect(wrongToken.status).toBe(404);
    const noToken = await ctx.http.get(`/v1/privacy/device-requests/${id}`).set(app.ingest);
    expect(noToken.status).toBe(400);
  });

  it('purges the archive after the TTL: the download then answers 409 export_expired', async () => {
    const ttlMs = ctx.config.exportTtlHours * 3_600_000;
    const expired = new Date(Date.now() + ttlMs + 60_000);
    const before = await ctx.container.mongo.db!.collection('privacy_export_chunks').countDocuments({ _id: { $regex: `^${requestId}/` } } as never);
    expect(before).toBeGreaterThan(0);
    // The retention job reads the clock; run it as if the TTL had passed.
    const realNow = ctx.container.clock.now;
    (ctx.container.clock as { now: () => Date }).now = () => expired;
    try {
      const run = await ctx.container.privacy.retention.purge();
      expect(run.exportsPurged).toBeGreaterThanOrEqual(1);
    } finally {
      (ctx.container.clock as { now: () => Date }).now = realNow;
    }
    const after = await ctx.container.mongo.db!.collection('privacy_export_chunks').countDocuments({ _id: { $regex: `^${requestId}/` } } as never);
    expect(after).toBe(0);
    const res = await ctx.http.get(`/v1/privacy/requests/${requestId}/export`).set(ctx.admin);
    expect(res.status).toBe(409);
    expect(res.body.error.code).toBe('export_expired');
  });
});
