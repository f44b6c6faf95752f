import { randomUUID } from 'node:crypto';
import { v7 as uuidv7 } from 'uuid';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventDocId, eventIdOf, type StoredEvent } from '../../src/ingest/stored-event.js';
import { consent, event, postEvents, stored, type IngestHeader } from '../helpers/ingest-fixtures.js';
import { createTestContext, type TestContext } from '../helpers/test-context.js';

let ctx: TestContext;
let appId: string;
let ingest: IngestHeader;
const heard: StoredEvent[] = [];

beforeAll(async () => {
  ctx = await createTestContext();
  ({ appId, ingest } = await ctx.createApp('com.test.ingest'));
  ctx.container.acceptedEvents.push({ onAccepted: (events) => heard.push(...events) });
});
afterAll(async () => {
  await ctx.close();
});

const device = (): string => `device-${randomUUID()}`;

describe('consent', () => {
  it('refuses events from a device that never consented', async () => {
    const res = await postEvents(ctx, ingest, [event(device())]);
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({ accepted: 0, duplicates: 0, rejected: [{ index: 0, code: 'consent_required' }] });
  });

  it('accepts events after a grant and stops at the very next event after a withdrawal', async () => {
    const id = device();
    const granted = await consent(ctx, ingest, id, true);
    expect(granted.status).toBe(201);
    expect(granted.body).toMatchObject({ granted: true, purposes: ['telemetry'], policyVersion: '2024-05' });
    expect(granted.body.receiptId).toMatch(/^[0-9a-f-]{36}$/);

    expect((await postEvents(ctx, ingest, [event(id)])).body).toMatchObject({ accepted: 1, rejected: [] });
    expect((await consent(ctx, ingest, id, false)).status).toBe(201);
    expect((await postEvents(ctx, ingest, [event(id)])).body).toMatchObject({ accepted: 0, rejected: [{ code: 'consent_required' }] });
    await consent(ctx, ingest, id, true);
    expect((await postEvents(ctx, ingest, [event(id)])).body.accepted).toBe(1);
  });

  it('keeps every decision in the append-only ledger and the latest one on the device, never the raw id', async () => {
    const id = device();
    const first = await consent(ctx, ingest, id, true, ['telemetry', 'crash_reports']);
    const second = await consent(ctx, ingest, id, false, ['crash_reports']);
    const pid = ctx.container.pseudonyms.pid(appId, id);

    const ledger = await stored(ctx, 'consents', { pid });
    expect(ledger.map((r) => [r.receiptId, r.seq, r.granted, r.purposes, r.policyVersion, r.source])).toEqual([
      [first.body.receiptId, 1, true, ['telemetry', 'crash_reports'], '2024-05', 'settings_screen'],
      [second.body.receiptId, 2, false, ['crash_reports'], '2024-05', 'settings_screen'],
    ]);
    const [doc] = await stored(ctx, 'device_consents', { pid });
    expect(doc).toMatchObject({
      _id: `${appId}:${pid}`,
      appId,
      seq: 2,
      purposes: { telemetry: { granted: true, seq: 1 }, crash_reports: { granted: false, seq: 2, receiptId: second.body.receiptId } },
    });
    expect(JSON.stringify([ledger, doc])).not.toContain(id);
  });

  it('orders concurrent decisions of one device by sequence, ledger and state agreeing', async () => {
    const id = device();
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => consent(ctx, ingest, id, i % 2 === 0)));
    expect(results.every((r) => r.status === 201)).toBe(true);
    const pid = ctx.container.pseudonyms.pid(appId, id);
    const ledger = await stored(ctx, 'consents', { pid });
    const last = ledger.reduce((a, b) => ((a.seq as number) > (b.seq as number) ? a : b));
    expect(ledger.map((r) => r.seq).sort()).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(new Set(ledger.map((r) => r.receiptId))).toEqual(new Set(results.map((r) => r.body.receiptId)));
    const [doc] = await stored(ctx, 'device_consents', { pid });
    expect(doc).toMatchObject({ seq: 8, purposes: { telemetry: { seq: 8, receiptId: last.receiptId, granted: last.granted } } });
    const accepted = (await postEvents(ctx, ingest, [event(id)])).body.accepted;
    expect(accepted).toBe(last.granted ? 1 : 0);
  });

  it('refuses consent for a suppressed device and records nothing', async () => {
    const id = device();
    const pid = ctx.container.pseudonyms.pid(appId, id);
    await ctx.container.suppressions.add({ appId, pid, reason: 'erasure', at: new Date() });
    const res = await consent(ctx, ingest, id, true);
    expect(res.status).toBe(409);
    expect(res.body).toMatchObject({ error: { code: 'suppressed' } });
    expect(await stored(ctx, 'consents', { pid })).toEqual([]);
  });

  it('validates the consent body', async () => {
    const res = await ctx.http.post('/v1/consent').set(ingest).send({ deviceId: 'x', granted: 'yes', purposes: ['telemetry'], policyVersion: '1', source: 'dialog' });
    expect(res.status).toBe(400);
    expect(res.body.error.details.field).toBe('body.granted');
    const empty = await ctx.http.post('/v1/consent').set(ingest).send({ deviceId: 'x', granted: true, purposes: [], policyVersion: '1', source: 'dialog' });
    expect(empty.status).toBe(400);
  });
});

describe('events', () => {
  let id: string;
  beforeAll(async () => {
    id = device();
    await consent(ctx, ingest, id, true);
  });

  it('stores accepted events under the pid only, then tells the listeners', async () => {
    heard.length = 0;
    const sent = event(id, { type: 'download_failed', errorCode: 'E_TIMEOUT', durationMs: 1200, fromVersion: '1.1.0', osVersion: '17.4', nativeVersion: '3.2.1' });
    const res = await postEvents(ctx, ingest, [sent]);
    expect(res.status).toBe(202);
    expect(res.body).toEqual({ accepted: 1, duplicates: 0, rejected: [] });

    const pid = ctx.container.pseudonyms.pid(appId, id);
    const [doc] = await stored(ctx, 'events', { _id: eventDocId(appId, pid, sent.eventId) });
    expect(doc).toMatchObject({
      _id: eventDocId(appId, pid, sent.eventId),
      appId,
      pid,
      type: 'download_failed',
      version: '1.2.0',
      errorCode: 'E_TIMEOUT',
      durationMs: 1200,
      occurredAt: new Date(sent.occurredAt),
    });
    expect(doc).not.toHaveProperty('deviceId');
    // The eventId is kept once, as the end of the _id.
    expect(doc).not.toHaveProperty('eventId');
    expect(eventIdOf(doc as unknown as StoredEvent)).toBe(sent.eventId);
    expect(JSON.stringify(doc)).not.toContain(id);
    expect(heard.map((e) => e._id)).toEqual([eventDocId(appId, pid, sent.eventId)]);
  });

  it('counts a resent event as a duplicate within a batch, across batches and under concurrent resends', async () => {
    const one = event(id);
    expect((await postEvents(ctx, ingest, [one, one, one])).body).toEqual({ accepted: 1, duplicates: 2, rejected: [] });
    expect((await postEvents(ctx, ingest, [one])).body).toEqual({ accepted: 0, duplicates: 1, rejected: [] });

    heard.length = 0;
    const batch = Array.from({ length: 20 }, () => event(id));
    const responses = await Promise.all(Array.from({ length: 8 }, () => postEvents(ctx, ingest, batch)));
    expect(responses.map((r) => r.status)).toEqual(Array(8).fill(202));
    expect(responses.reduce((n, r) => n + r.body.accepted, 0)).toBe(20);
    expect(responses.reduce((n, r) => n + r.body.duplicates, 0)).toBe(140);
    const pid = ctx.container.pseudonyms.pid(appId, id);
    const docs = await stored(ctx, 'events', { _id: { $in: batch.map((e) => eventDocId(appId, pid, e.eventId)) } });
    expect(docs).toHaveLength(20);
    expect(heard).toHaveLength(20);
  });

  it('keys idempotency on the eventId per app and device: a changed resend is a duplicate, another device is not', async () => {
    const first = event(id);
    expect((await postEvents(ctx, ingest, [first])).body).toMatchObject({ accepted: 1, duplicates: 0 });
    // An SDK that re-stamps a queued event still resends the same event.
    const restamped = { ...first, occurredAt: new Date(Date.parse(first.occurredAt) - 60_000).toISOString(), type: 'crash' as const };
    expect((await postEvents(ctx, ingest, [restamped])).body).toEqual({ accepted: 0, duplicates: 1, rejected: [] });

    // Another device reusing the eventId cannot make its own event vanish as a duplicate of this one.
    const other = device();
    await consent(ctx, ingest, other, true);
    expect((await postEvents(ctx, ingest, [{ ...first, deviceId: other }])).body).toMatchObject({ accepted: 1, duplicates: 0 });
    const pids = [ctx.container.pseudonyms.pid(appId, id), ctx.container.pseudonyms.pid(appId, other)];
    const docs = await stored(ctx, 'events', { _id: { $in: pids.map((pid) => eventDocId(appId, pid, first.eventId)) } });
    expect(docs.map((d) => d.pid).sort()).toEqual(pids.sort());
    expect(docs.find((d) => d.pid === ctx.container.pseudonyms.pid(appId, id))).toMatchObject({ type: 'app_ready', occurredAt: new Date(first.occurredAt) });
  });

  it('accepts UUIDv7 eventIds (the README advises SDKs to use them) and dedupes them like any other', async () => {
    const v7 = event(id, { eventId: uuidv7() });
    const v4 = event(id);
    expect((await postEvents(ctx, ingest, [v7, v4])).body).toEqual({ accepted: 2, duplicates: 0, rejected: [] });
    expect((await postEvents(ctx, ingest, [v7])).body).toEqual({ accepted: 0, duplicates: 1, rejected: [] });
    const pid = ctx.container.pseudonyms.pid(appId, id);
    const ids = (await stored(ctx, 'events', { pid })).map((d) => eventIdOf(d as unknown as StoredEvent));
    expect(ids.filter((eventId) => eventId === v7.eventId)).toHaveLength(1);
  });

  it('rejects one invalid event among 50, naming the field, and accepts the other 49', async () => {
    const batch = Array.from({ length: 50 }, () => event(id));
    batch[17] = { ...batch[17]!, occurredAt: 'yesterday' };
    const res = await postEvents(ctx, ingest, batch);
    expect(res.status).toBe(202);
    expect(res.body.accepted).toBe(49);
    expect(res.body.rejected).toEqual([{ index: 17, code: 'invalid', field: 'occurredAt', message: expect.stringContaining('occurredAt') }]);
  });

  it('names the field of other invalid events without echoing the device id', async () => {
    const secret = `device-${randomUUID()}`;
    const batch: unknown[] = [
      event(secret, { type: 'exploded' }),
      event(secret, { eventId: 'not-a-uuid' }),
      { ...event(secret), extra: 1 },
      event(secret, { deviceId: 'x'.repeat(201) }),
      'not an object',
      { ...event(secret), version: { $gt: '' } },
    ];
    const res = await postEvents(ctx, ingest, batch);
    expect(res.body.rejected.map((r) => [r.index, r.code, r.field])).toEqual([
      [0, 'invalid', 'type'],
      [1, 'invalid', 'eventId'],
      [2, 'invalid', 'extra'],
      [3, 'invalid', 'deviceId'],
      [4, 'invalid', 'event'],
      [5, 'invalid', 'version'],
    ]);
    expect(JSON.stringify(res.body)).not.toContain(secret);
  });

  it('rejects events outside the clock-skew window: 7 days back, 5 minutes ahead', async () => {
    const at = (offsetMs: number): string => new Date(Date.now() + offsetMs).toISOString();
    const res = await postEvents(ctx, ingest, [
      event(id, { occurredAt: at(-8 * 86_400_000) }),
      event(id, { occurredAt: at(-6 * 86_400_000) }),
      event(id, { occurredAt: at(10 * 60_000) }),
      event(id, { occurredAt: at(4 * 60_000) }),
    ]);
    expect(res.body.accepted).toBe(2);
    expect(res.body.rejected.map((r) => [r.index, r.code])).toEqual([
      [0, 'too_old'],
      [2, 'in_future'],
    ]);
  });

  it('refuses events of a suppressed device even though it consented, storing nothing', async () => {
    const other = device();
    await consent(ctx, ingest, other, true);
    const pid = ctx.container.pseudonyms.pid(appId, other);
    await ctx.container.suppressions.add({ appId, pid, reason: 'objection', purpose: 'telemetry', at: new Date() });
    const res = await postEvents(ctx, ingest, [event(other), event(id)]);
    expect(res.body).toMatchObject({ accepted: 1, rejected: [{ index: 0, code: 'suppressed' }] });
    expect(await stored(ctx, 'events', { pid })).toEqual([]);
  });

  it('keeps a device document with the running bundle and first/last seen at day precision', async () => {
    const other = device();
    await consent(ctx, ingest, other, true);
    const old = new Date(Date.now() - 3_600_000).toISOString();
    await postEvents(ctx, ingest, [
      event(other, { type: 'app_ready', version: '2.0.0', channel: 'beta', platform: 'ios', occurredAt: old }),
      event(other, { type: 'app_ready', version: '2.1.0', channel: 'beta', platform: 'ios' }),
      event(other, { type: 'download_started', version: '2.2.0', channel: 'beta', platform: 'ios' }),
    ]);
    // An older app_ready arriving later does not move the device backwards.
    await postEvents(ctx, ingest, [event(other, { type: 'app_ready', version: '1.9.0', channel: 'beta', platform: 'ios', occurredAt: old })]);
    const pid = ctx.container.pseudonyms.pid(appId, other);
    const [doc] = await stored(ctx, 'devices', { pid });
    const today = new Date(Math.floor(Date.now() / 86_400_000) * 86_400_000);
    expect(doc).toMatchObject({ appId, pid, current: { version: '2.1.0', channel: 'beta', platform: 'ios' }, firstSeen: today, lastSeen: today });
  });

  it('counts outcomes in Prometheus', async () => {
    const res = await ctx.http.get('/metrics');
    expect(res.text).toMatch(/otaguard_ingest_events_total\{outcome="accepted"\} [1-9]/);
    expect(res.text).toMatch(/otaguard_ingest_events_total\{outcome="duplicate"\} [1-9]/);
    expect(res.text).toMatch(/otaguard_ingest_events_total\{outcome="consent_required"\} [1-9]/);
    // Event and device-state writes went through the write lane, which reports their time.
    expect(res.text).toMatch(/otaguard_write_lane_held_seconds_sum\{writer="events"\} [0-9.e-]*[1-9]/);
    expect(res.text).toMatch(/otaguard_write_lane_wait_seconds_count\{writer="device_state"\} [1-9]/);
  });

  it('answers 202 even when a listener throws', async () => {
    ctx.container.acceptedEvents.push({
      onAccepted: () => {
        throw new Error('aggregator bug');
      },
    });
    try {
      expect((await postEvents(ctx, ingest, [event(id)])).body.accepted).toBe(1);
    } finally {
      ctx.container.acceptedEvents.pop();
    }
  });
});

describe('bad requests', () => {
  it('answers 401 without a key, with an unknown key and with an admin key', async () => {
    const body = { events: [event('d')] };
    expect((await ctx.http.post('/v1/events').send(body)).status).toBe(401);
    expect((await ctx.http.post('/v1/events').set({ Authorization: 'Bearer ogi_nope' }).send(body)).status).toBe(401);
    expect((await ctx.http.post('/v1/events').set(ctx.admin).send(body)).status).toBe(401);
    const consentRes = await ctx.http.post('/v1/consent').send({ deviceId: 'd', granted: true, purposes: ['telemetry'], policyVersion: '1', source: 'x' });
    expect(consentRes.status).toBe(401);
  });

  it('answers 413 above 500 events or 1 MiB, saying what the limit is', async () => {
    const many = await postEvents(ctx, ingest, Array.from({ length: 501 }, () => event('d')));
    expect(many.status).toBe(413);
    expect(many.body.error).toMatchObject({ code: 'batch_too_large', message: expect.stringContaining('500 events') });
    const huge = await postEvents(ctx, ingest, Array.from({ length: 300 }, () => event('d', { errorCode: 'x'.repeat(4000) })));
    expect(huge.status).toBe(413);
  });

  it('answers 400 for a body that is not a batch', async () => {
    const post = (body: unknown) => ctx.http.post('/v1/events').set(ingest).set('Content-Type', 'application/json').send(JSON.stringify(body));
    expect((await post({ events: 'nope' })).body.error.details.field).toBe('body.events');
    expect((await post({ events: [], more: 1 })).body.error.details.field).toBe('body.more');
    expect((await post([event('d')])).status).toBe(400);
    expect((await post({})).status).toBe(400);
    const malformed = await ctx.http.post('/v1/events').set(ingest).set('Content-Type', 'application/json').send('{"events": [');
    expect(malformed.status).toBe(400);
    expect((await post({ events: [] })).body).toEqual({ accepted: 0, duplicates: 0, rejected: [] });
  });
});

describe('current consent writes', () => {
  it('with conditional puts (the MongoDB mode) never replace a newer state with an older one', async () => {
    const { MongoConsentStateStore } = await import('../../src/ingest/consent-store.js');
    const store = new MongoConsentStateStore(ctx.container.mongo, 'each', true);
    const decision = (seq: number, granted: boolean) => ({ granted, seq, at: new Date(), policyVersion: '1', source: 's', receiptId: `r${seq}` });
    const pid = `pid-${randomUUID()}`;
    await store.put({ appId, pid, seq: 3, purposes: { telemetry: decision(3, false) } });
    await store.put({ appId, pid, seq: 2, purposes: { telemetry: decision(2, true) } });
    expect(await store.get(appId, pid)).toMatchObject({ seq: 3, purposes: { telemetry: { granted: false } } });
    expect(await store.telemetryGranted(appId, [pid])).toEqual(new Set());
    await store.put({ appId, pid, seq: 4, purposes: { telemetry: decision(4, true) } });
    expect(await store.telemetryGranted(appId, [pid])).toEqual(new Set([pid]));
  });
});
