import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.js';
import { createTestContext, type TestContext } from '../helpers/test-context.js';

/** The request API without workers: requests stay open, so deadlines, extension and denial can be driven. */
let ctx: TestContext;
let app: { appId: string; ingest: { Authorization: string } };
const clock = new ManualClock('2026-02-02T10:00:00.000Z');
const DEVICE = 'requests-device-Zq81-unique-marker';

const file = (body: Record<string, unknown>) => ctx.http.post('/v1/privacy/requests').set(ctx.admin).send({ appId: app.appId, deviceId: DEVICE, ...body });

beforeAll(async () => {
  ctx = await createTestContext({ clock });
  app = await ctx.createApp('com.privacy.requests');
});
afterAll(async () => {
  await ctx?.close();
});

describe('filing', () => {
  it('GDPR: due one calendar month after receipt, end of day; Jan 31 → Feb 28', async () => {
    const res = await file({ type: 'access', jurisdiction: 'gdpr', receivedAt: '2026-01-31T18:30:00Z', notes: 'by email' });
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({
      id: expect.stringMatching(/^prq_/),
      status: 'received',
      source: 'admin',
      duplicate: false,
      receivedAt: '2026-01-31T18:30:00.000Z',
      dueAt: '2026-02-28T23:59:59.999Z',
      originalDueAt: '2026-02-28T23:59:59.999Z',
      overdue: false,
      notes: 'by email',
    });
    expect(res.body.acknowledgementDueAt).toBeUndefined();
  });

  it('CCPA: acknowledgement in 10 business days over weekends, response in 45 calendar days', async () => {
    clock.set('2026-01-17T09:00:00Z'); // a Saturday
    const res = await file({ type: 'delete', jurisdiction: 'ccpa' });
    expect(res.body).toMatchObject({ receivedAt: '2026-01-17T09:00:00.000Z', acknowledgementDueAt: '2026-01-30T23:59:59.999Z', dueAt: '2026-03-03T23:59:59.999Z' });
    clock.set('2026-02-02T10:00:00.000Z');
  });

  it('rejects bad input with 4xx naming the field', async () => {
    const cases: Array<[Record<string, unknown>, number, string]> = [
      [{ type: 'erase', jurisdiction: 'gdpr' }, 400, 'body.type'],
      [{ type: 'access', jurisdiction: 'eu' }, 400, 'body.jurisdiction'],
      [{ type: 'access' }, 400, 'body.jurisdiction'],
      [{ type: 'access', jurisdiction: 'gdpr', deviceId: '' }, 400, 'body.deviceId'],
      [{ type: 'access', jurisdiction: 'gdpr', deviceId: 'x'.repeat(201) }, 400, 'body.deviceId'],
      [{ type: 'access', jurisdiction: 'gdpr', receivedAt: 'yesterday' }, 400, 'body.receivedAt'],
      [{ type: 'access', jurisdiction: 'gdpr', receivedAt: '2026-03-01T00:00:00Z' }, 400, 'body.receivedAt'],
      [{ type: 'access', jurisdiction: 'gdpr', purpose: 'marketing' }, 400, 'body.purpose'],
      [{ type: 'access', jurisdiction: 'gdpr', pid: 'abc' }, 400, 'body.pid'],
      [{ type: 'access', jurisdiction: 'gdpr', appId: 'com.does.not.exist' }, 404, ''],
    ];
    for (const [body, status, field] of cases) {
      const res = await file(body);
      expect(res.status, JSON.stringify(body)).toBe(status);
      if (field) expect(res.body.error.details.field, JSON.stringify(body)).toBe(field);
    }
    expect((await ctx.http.get('/v1/privacy/requests?overdue=yes').set(ctx.admin)).status).toBe(400);
    expect((await ctx.http.get('/v1/privacy/requests?limit=0').set(ctx.admin)).status).toBe(400);
    expect((await ctx.http.get('/v1/privacy/requests?dueBefore=soon').set(ctx.admin)).status).toBe(400);
    expect((await ctx.http.get('/v1/privacy/requests/not-an-id').set(ctx.admin)).status).toBe(400);
    expect((await ctx.http.get('/v1/privacy/requests/prq_00000000-0000-0000-0000-000000000000').set(ctx.admin)).status).toBe(404);
    expect((await ctx.http.post('/v1/privacy/device-requests').set(app.ingest).send({ type: 'access', deviceId: 'd', appId: app.appId })).status).toBe(400);
  });
});

describe('device self-service', () => {
  it('returns an unguessable status token, stored only as a hash, that alone shows the request', async () => {
    const res = await ctx.http.post('/v1/privacy/device-requests').set(app.ingest).send({ type: 'export', deviceId: DEVICE });
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({ source: 'device', jurisdiction: 'gdpr', statusToken: expect.stringMatching(/^ogt_[A-Za-z0-9_-]{43}$/) });
    const { id, statusToken } = res.body as { id: string; statusToken: string };
    const status = await ctx.http.get(`/v1/privacy/device-requests/${id}`).set({ ...app.ingest, 'X-Status-Token': statusToken });
    expect(status.status).toBe(200);
    expect(status.body).toMatchObject({ id, status: 'received', type: 'export' });
    expect(status.body.statusToken).toBeUndefined();

    const stored = JSON.stringify(await ctx.container.mongo.db!.collection('privacy_requests').findOne({ _id: id } as never));
    expect(stored).not.toContain(statusToken);
    const other = await ctx.createApp('com.privacy.other');
    expect((await ctx.http.get(`/v1/privacy/device-requests/${id}`).set({ ...other.ingest, 'X-Status-Token': statusToken })).status).toBe(404);
    expect((await ctx.http.get(`/v1/privacy/device-requests/${id}`).set({ ...app.ingest, 'X-Status-Token': `ogt_${'x'.repeat(43)}` })).status).toBe(404);
    expect((await ctx.http.get(`/v1/privacy/device-requests/${id}`).set(ctx.admin)).status).toBe(401);
  });

  it('never stores, logs or echoes the raw device id', async () => {
    const db = ctx.container.mongo.db!;
    for (const { name } of await db.listCollections().toArray()) {
      const docs = await db.collection(name).find({}).toArray();
      expect(JSON.stringify(docs), name).not.toContain(DEVICE);
    }
    expect(ctx.logs.join('\n')).not.toContain(DEVICE);
    const list = await ctx.http.get('/v1/privacy/requests').set(ctx.admin);
    expect(JSON.stringify(list.body)).not.toContain(DEVICE);
  });
});

describe('duplicates', () => {
  it('link to the first request of the same device and type within the window, and only then', async () => {
    const first = await file({ type: 'objection', jurisdiction: 'gdpr' });
    const again = await file({ type: 'objection', jurisdiction: 'ccpa' });
    expect(again.body).toMatchObject({ id: first.body.id, duplicate: true, jurisdiction: 'gdpr' });
    const fromDevice = await ctx.http.post('/v1/privacy/device-requests').set(app.ingest).send({ type: 'objection', deviceId: DEVICE });
    expect(fromDevice.body).toMatchObject({ id: first.body.id, duplicate: true });
    const view = await ctx.http.get(`/v1/privacy/device-requests/${first.body.id as string}`).set({ ...app.ingest, 'X-Status-Token': fromDevice.body.statusToken });
    expect(view.status).toBe(200);
    expect(view.body.notes).toBeUndefined();

    const otherDevice = await file({ type: 'objection', jurisdiction: 'gdpr', deviceId: 'someone-else' });
    expect(otherDevice.body.duplicate).toBe(false);
    clock.advance(25 * 3_600_000);
    const later = await file({ type: 'objection', jurisdiction: 'gdpr' });
    expect(later.body.duplicate).toBe(false);
    expect(later.body.id).not.toBe(first.body.id);
  });
});

describe('extension, denial and lists', () => {
  it('extends a GDPR request once, by two further months, with the reason, before the original due date', async () => {
    clock.set('2026-03-10T08:00:00Z');
    const created = await file({ type: 'export', jurisdiction: 'gdpr', receivedAt: '2026-01-31T08:00:00Z', deviceId: 'extend-1' });
    const id = created.body.id as string;
    expect((await ctx.http.post(`/v1/privacy/requests/${id}/extend`).set(ctx.admin).send({ reason: '' })).status).toBe(400);
    expect((await ctx.http.post(`/v1/privacy/requests/${id}/extend`).set(ctx.admin).send({})).status).toBe(400);
    // Due 2026-02-28: too late on 2026-03-10.
    const late = await ctx.http.post(`/v1/privacy/requests/${id}/extend`).set(ctx.admin).send({ reason: 'complex' });
    expect(late.status).toBe(409);
    expect(late.body.error.code).toBe('extension_too_late');

    clock.set('2026-02-20T08:00:00Z');
    const onTime = await file({ type: 'export', jurisdiction: 'gdpr', receivedAt: '2026-01-31T08:00:00Z', deviceId: 'extend-2' });
    const extended = await ctx.http.post(`/v1/privacy/requests/${onTime.body.id as string}/extend`).set(ctx.admin).send({ reason: 'many systems to search' });
    expect(extended.status).toBe(200);
    expect(extended.body).toMatchObject({
      dueAt: '2026-04-30T23:59:59.999Z',
      originalDueAt: '2026-02-28T23:59:59.999Z',
      extension: { reason: 'many systems to search', previousDueAt: '2026-02-28T23:59:59.999Z' },
    });
    const twice = await ctx.http.post(`/v1/privacy/requests/${onTime.body.id as string}/extend`).set(ctx.admin).send({ reason: 'again' });
    expect(twice.body.error.code).toBe('already_extended');
  });

  it('extends a CCPA request by 45 days (90 from receipt)', async () => {
    clock.set('2026-01-20T08:00:00Z');
    const created = await file({ type: 'access', jurisdiction: 'ccpa', deviceId: 'extend-ccpa' });
    const res = await ctx.http.post(`/v1/privacy/requests/${created.body.id as string}/extend`).set(ctx.admin).send({ reason: 'notice sent' });
    expect(res.body).toMatchObject({ originalDueAt: '2026-03-06T23:59:59.999Z', dueAt: '2026-04-20T23:59:59.999Z' });
  });

  it('denies an open request with its basis; a closed one cannot be denied or extended', async () => {
    clock.set('2026-02-02T10:00:00.000Z');
    const created = await file({ type: 'access', jurisdiction: 'gdpr', deviceId: 'deny-me' });
    const id = created.body.id as string;
    expect((await ctx.http.post(`/v1/privacy/requests/${id}/deny`).set(ctx.admin).send({ basis: 'x'.repeat(2001) })).status).toBe(400);
    const denied = await ctx.http.post(`/v1/privacy/requests/${id}/deny`).set(ctx.admin).send({ basis: 'GDPR Art. 12(5)(b): manifestly excessive' });
    expect(denied.body).toMatchObject({ status: 'denied', denial: { basis: 'GDPR Art. 12(5)(b): manifestly excessive' } });
    expect((await ctx.http.post(`/v1/privacy/requests/${id}/deny`).set(ctx.admin).send({ basis: 'again' })).body.error.code).toBe('request_closed');
    expect((await ctx.http.post(`/v1/privacy/requests/${id}/extend`).set(ctx.admin).send({ reason: 'late' })).body.error.code).toBe('request_closed');
    // A denied request does not block a new one for the same device and type.
    expect((await file({ type: 'access', jurisdiction: 'gdpr', deviceId: 'deny-me' })).body.duplicate).toBe(false);
  });

  it('lists by status, overdue and due date, soonest first', async () => {
    clock.set('2026-03-15T00:00:00Z');
    const all = (await ctx.http.get('/v1/privacy/requests?limit=500').set(ctx.admin)).body.requests as Array<{ id: string; dueAt: string; status: string; overdue: boolean }>;
    expect(all.map((r) => r.dueAt)).toEqual([...all.map((r) => r.dueAt)].sort());
    const overdue = (await ctx.http.get('/v1/privacy/requests?overdue=true').set(ctx.admin)).body.requests as typeof all;
    expect(overdue.length).toBeGreaterThan(0);
    expect(overdue.every((r) => r.overdue && r.status !== 'denied' && Date.parse(r.dueAt) < clock.now().getTime())).toBe(true);
    expect(overdue.map((r) => r.id).sort()).toEqual(all.filter((r) => r.overdue).map((r) => r.id).sort());
    const notOverdue = (await ctx.http.get('/v1/privacy/requests?overdue=false').set(ctx.admin)).body.requests as typeof all;
    expect(notOverdue.length + overdue.length).toBe(all.length);
    const denied = (await ctx.http.get('/v1/privacy/requests?status=denied').set(ctx.admin)).body.requests as typeof all;
    expect(denied.map((r) => r.status)).toEqual(['denied']);
    const dueSoon = (await ctx.http.get('/v1/privacy/requests?dueBefore=2026-03-04T00:00:00Z').set(ctx.admin)).body.requests as typeof all;
    expect(dueSoon.every((r) => r.dueAt < '2026-03-04')).toBe(true);
    expect(dueSoon.map((r) => r.id).sort()).toEqual(all.filter((r) => r.dueAt < '2026-03-04').map((r) => r.id).sort());
  });
});
