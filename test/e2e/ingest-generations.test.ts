import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { consent, event, postEvents, stored, type IngestHeader } from '../helpers/ingest-fixtures.js';
import { createTwoProcesses, type TestContext } from '../helpers/test-context.js';

let one: TestContext;
let two: TestContext;
let closeBoth: () => Promise<void>;
let appId: string;
let ingest: IngestHeader;

beforeAll(async () => {
  ({ one, two, close: closeBoth } = await createTwoProcesses());
  ({ appId, ingest } = await one.createApp('com.test.generations'));
});
afterAll(async () => {
  await closeBoth?.();
});

/** Database reads of the suppression list made by `ctx`'s process while `work` runs. */
async function suppressionReads(ctx: TestContext, work: () => Promise<void>): Promise<number> {
  const store = ctx.container.suppressions;
  const read = store.suppressed.bind(store);
  let reads = 0;
  store.suppressed = (...args) => {
    reads++;
    return read(...args);
  };
  try {
    await work();
  } finally {
    store.suppressed = read;
  }
  return reads;
}

describe('suppression and consent checks with generations in Redis', () => {
  it('skips the database for a device already checked, and refuses it at once after another process suppresses it', async () => {
    const deviceId = `device-${randomUUID()}`;
    const pid = one.container.pseudonyms.pid(appId, deviceId);
    await consent(one, ingest, deviceId, true);

    // First batch: read from the database before the write; the generation holds, so not again after it.
    expect(await suppressionReads(one, async () => expect((await postEvents(one, ingest, [event(deviceId)])).body.accepted).toBe(1))).toBe(1);
    // Next batches of the same device: no database read at all.
    expect(await suppressionReads(one, async () => expect((await postEvents(one, ingest, [event(deviceId)])).body.accepted).toBe(1))).toBe(0);

    // Process two suppresses the device (an objection): process one's very next batch is refused.
    await two.container.suppressions.add({ appId, pid, reason: 'objection', purpose: 'telemetry', at: new Date() });
    const reads = await suppressionReads(one, async () => {
      const res = await postEvents(one, ingest, [event(deviceId), event(deviceId)]);
      expect(res.body).toMatchObject({ accepted: 0, rejected: [{ index: 0, code: 'suppressed' }, { index: 1, code: 'suppressed' }] });
    });
    expect(reads).toBe(1);
    expect(await stored(one, 'events', { pid })).toHaveLength(2);
  });

  it('falls back to the database on every batch, and still refuses, when the generation is unreadable', async () => {
    const deviceId = `device-${randomUUID()}`;
    const pid = one.container.pseudonyms.pid(appId, deviceId);
    await consent(one, ingest, deviceId, true);
    expect((await postEvents(one, ingest, [event(deviceId)])).body.accepted).toBe(1);

    const redis = one.container.redis;
    const mget = redis.mget.bind(redis);
    redis.mget = (() => Promise.reject(new Error('redis unavailable'))) as typeof redis.mget;
    try {
      // Before and after the write: two database reads per batch.
      expect(await suppressionReads(one, async () => expect((await postEvents(one, ingest, [event(deviceId)])).body.accepted).toBe(1))).toBe(2);
      await two.container.suppressions.add({ appId, pid, reason: 'objection', purpose: 'telemetry', at: new Date() });
      const res = await postEvents(one, ingest, [event(deviceId)]);
      expect(res.body).toMatchObject({ accepted: 0, rejected: [{ index: 0, code: 'suppressed' }] });
    } finally {
      redis.mget = mget;
    }
  });

  it('applies a withdrawal made through another process to the very next batch of a device this process had cached', async () => {
    const deviceId = `device-${randomUUID()}`;
    await consent(one, ingest, deviceId, true);
    for (let i = 0; i < 3; i++) expect((await postEvents(one, ingest, [event(deviceId)])).body.accepted).toBe(1);
    await consent(two, ingest, deviceId, false);
    expect((await postEvents(one, ingest, [event(deviceId)])).body).toMatchObject({ accepted: 0, rejected: [{ index: 0, code: 'consent_required' }] });
    await consent(two, ingest, deviceId, true);
    expect((await postEvents(one, ingest, [event(deviceId)])).body.accepted).toBe(1);
  });

  it('keeps only app ids and pid prefixes in the Redis keys and random tokens in the values', async () => {
    const keys = await one.container.redis.keys(`${one.config.queuePrefix}:generation:*`);
    expect(keys).toContain(`${one.config.queuePrefix}:generation:suppression:${appId}`);
    const consentKeys = keys.filter((k) => k.includes(':generation:consent:'));
    expect(consentKeys.length).toBeGreaterThan(0);
    for (const key of consentKeys) expect(key).toMatch(new RegExp(`^${one.config.queuePrefix}:generation:consent:${appId.replace(/\./g, '\\.')}:[0-9a-f]{3}$`));
    for (const key of keys) expect(await one.container.redis.get(key)).toMatch(/^[A-Za-z0-9_-]{16}$/);
  });
});
