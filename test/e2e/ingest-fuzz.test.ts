import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { consent, event, type IngestHeader } from '../helpers/ingest-fixtures.js';
import { createTestContext, type TestContext } from '../helpers/test-context.js';

let ctx: TestContext;
let ingest: IngestHeader;
const devices = Array.from({ length: 4 }, () => `device-${randomUUID()}`);

beforeAll(async () => {
  // Generous limits: this test is about input handling, not about the rate limiter.
  ctx = await createTestContext({ config: { ingestDeviceEventsPerMinute: 1_000_000, ingestAppEventsPerSecond: 1_000_000 } });
  ({ ingest } = await ctx.createApp('com.test.fuzz'));
  for (const id of devices.slice(0, 2)) await consent(ctx, ingest, id, true);
});
afterAll(async () => {
  await ctx.close();
});

/** Values that have hurt Mongo-backed services: operators, prototype keys, huge and odd strings, deep nesting. */
const nasty: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom({ $gt: '' }, { $where: 'sleep(1000)' }, { $ne: null }, '$where', '{"$gt":""}', { __proto__: { admin: true } }, { constructor: { prototype: {} } }),
  fc.constantFrom(null, true, 0, -1, 1e308, -0, '', ' ', '\u0000', '\ud800', 'x'.repeat(70_000), '1970-01-01T00:00:00Z', '9999-12-31T23:59:59Z'),
  fc.string({ maxLength: 300 }),
  fc.integer(),
  fc.double(),
  fc.jsonValue({ maxDepth: 4 }),
  fc.integer({ min: 1, max: 200 }).map((depth) => JSON.parse('['.repeat(depth) + ']'.repeat(depth)) as unknown),
);

const FIELDS = ['eventId', 'deviceId', 'type', 'version', 'channel', 'platform', 'occurredAt', 'fromVersion', 'nativeVersion', 'osVersion', 'errorCode', 'durationMs'];

/** A mostly valid event with some fields replaced, removed or added. */
const mutatedEvent: fc.Arbitrary<unknown> = fc
  .record({
    device: fc.constantFrom(...devices),
    replace: fc.array(fc.tuple(fc.constantFrom(...FIELDS), nasty), { maxLength: 3 }),
    drop: fc.array(fc.constantFrom(...FIELDS), { maxLength: 2 }),
    extra: fc.option(fc.tuple(fc.oneof(fc.string({ maxLength: 20 }), fc.constantFrom('$set', '__proto__', 'a.b', '')), nasty), { nil: undefined }),
  })
  .map(({ device, replace, drop, extra }) => {
    const e: Record<string, unknown> = { ...event(device) };
    for (const [field, value] of replace) e[field] = value;
    for (const field of drop) delete e[field];
    if (extra) e[extra[0]] = extra[1];
    return e;
  });

const body: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 5, arbitrary: fc.array(fc.oneof({ weight: 4, arbitrary: mutatedEvent }, nasty), { maxLength: 20 }).map((events) => ({ events })) },
  { weight: 1, arbitrary: fc.record({ events: nasty }) },
  { weight: 1, arbitrary: fc.dictionary(fc.string({ maxLength: 10 }), nasty, { maxKeys: 3 }) },
  { weight: 1, arbitrary: nasty },
);

describe('malformed payloads', () => {
  it('never answer 5xx, on /v1/events or /v1/consent, as JSON or as raw text', async () => {
    const statuses = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(body, fc.boolean(), fc.constantFrom('/v1/events', '/v1/consent'), async (payload, raw, path) => {
        const text = raw ? JSON.stringify(payload)?.slice(0, -1) ?? '{' : JSON.stringify(payload) ?? 'null';
        const res = await ctx.http.post(path).set(ingest).set('Content-Type', 'application/json').send(text);
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        expect(res.status, `${path} ${text.slice(0, 200)}`).toBeLessThan(500);
      }),
      { numRuns: 2500 },
    );
    // The generator reaches the write path, not only the validator.
    expect(statuses.get(202)).toBeGreaterThan(100);
    expect(statuses.get(400)).toBeGreaterThan(100);
    const stored = await ctx.container.mongo.db!.collection('events').find().toArray();
    expect(stored.length).toBeGreaterThan(0);
    for (const doc of stored) {
      expect(typeof doc.version).toBe('string');
      expect(doc).not.toHaveProperty('deviceId');
    }
  }, 180_000);
});
