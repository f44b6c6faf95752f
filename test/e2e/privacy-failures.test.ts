import { Schema } from 'mongoose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWorkers, type Workers } from '../../jobs/worker.js';
import { PROCESSORS } from '../../jobs/processors.js';
import { PermanentStepError } from '../../src/privacy/export-steps.js';
import { markPidCollection } from '../../src/privacy/pid-registry.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';
import { createTestContext, type TestContext } from '../helpers/test-context.js';
import { waitFor } from '../helpers/webhook-receiver.js';

/**
 * Failures a privacy team must see: a transient error is recorded and retried, a permanent one or the last
 * attempt marks the request failed with its reason (and BullMQ does not retry it); a queue that cannot
 * take the job leaves nothing behind; device requests are limited per app.
 */
const brokenSchema = new Schema({ _id: String, appId: String, pid: String }, { versionKey: false, collection: 'test_broken' });
// `$broken` makes every query of this collection an error: a stand-in for a failing dependency.
markPidCollection(brokenSchema, { category: 'test', purpose: 'fail on purpose', retention: 'test', pidField: '$broken' });

let ctx: TestContext;
let app: { appId: string; ingest: { Authorization: string } };
const file = async (deviceId: string): Promise<string> => {
  const res = await ctx.http.post('/v1/privacy/requests').set(ctx.admin).send({ appId: app.appId, type: 'export', deviceId, jurisdiction: 'gdpr' });
  expect(res.status).toBe(202);
  return res.body.id as string;
};
type Step = { name: string; status: string; doneAt?: string };
type View = { status: string; steps: Step[]; failure?: { code: string; message: string }; lastError?: { message: string; attempt: number } };
const view = async (id: string): Promise<View> => (await ctx.http.get(`/v1/privacy/requests/${id}`).set(ctx.admin)).body as View;

beforeAll(async () => {
  ctx = await createTestContext({ config: { privacyDeviceRequestsPerHour: 2 } });
  ctx.container.mongo.model('TestBroken', brokenSchema);
  app = await ctx.createApp('com.privacy.failures');
  // FerretDB judges the filter per document, so one of the app's documents must be there to trip on it.
  await ctx.container.mongo.db!.collection('test_broken').insertOne({ _id: 'x', appId: app.appId, pid: 'p' } as never);
});
afterAll(async () => {
  await ctx?.close();
});

describe('job failures', () => {
  it('records a transient error and keeps the request open; the last attempt fails it with the reason', async () => {
    const id = await file('transient-device');
    const run = (final: boolean) => ctx.container.privacy.processor.run(id, { number: final ? 10 : 1, final });
    await expect(run(false)).rejects.toThrow();
    const open = await view(id);
    expect(open).toMatchObject({ status: 'processing', lastError: { attempt: 1, message: expect.stringMatching(/\$broken|operator/) } });
    expect(open.steps.find((s) => s.name === 'export:test_broken')).toMatchObject({ status: 'running', attempts: 1 });
    // Steps finished before the failing one are not redone.
    const before = open.steps.filter((s) => s.status === 'done').map((s) => [s.name, s.doneAt]);
    expect(before.length).toBeGreaterThan(0);

    await expect(run(true)).rejects.toThrow(PermanentStepError);
    const failed = await view(id);
    expect(failed).toMatchObject({ status: 'failed', failure: { code: 'retries_exhausted', message: expect.any(String) } });
    expect(failed.steps.filter((s) => s.status === 'done').map((s) => [s.name, s.doneAt])).toEqual(before);
    expect(JSON.stringify(failed)).not.toMatch(/[0-9a-f]{64}/);
    // A failed request does not hold the duplicate window: filing again starts a new one.
    expect(await file('transient-device')).not.toBe(id);
  });

  it('a permanent error fails the job once, without retries, with the reason on the request', async () => {
    const id = await file('permanent-device');
    await expect(ctx.container.privacy.processor.run(id, { number: 1, final: false })).rejects.toThrow();
    // The planned collection disappears from the registry: nothing can ever export it.
    ctx.container.mongo.deleteModel('TestBroken');
    const workers: Workers = startWorkers(ctx.container, { privacy: PROCESSORS.privacy! });
    try {
      const failed = await waitFor(async () => ((await view(id)).status === 'failed' ? view(id) : undefined), 30_000, 'the request to fail');
      expect(failed.failure).toMatchObject({ code: 'permanent_error', message: 'collection test_broken is no longer registered' });
      const job = await ctx.container.queues.get('privacy').getJob(id);
      expect(await job!.getState()).toBe('failed');
      expect(job!.attemptsMade).toBe(1);
    } finally {
      await workers.close();
    }
  });
});

describe('filing', () => {
  it('limits device requests per app (429 with Retry-After)', async () => {
    for (const deviceId of ['d1', 'd2']) expect((await ctx.http.post('/v1/privacy/device-requests').set(app.ingest).send({ type: 'access', deviceId })).status).toBe(202);
    const third = await ctx.http.post('/v1/privacy/device-requests').set(app.ingest).send({ type: 'access', deviceId: 'd3' });
    expect(third.status).toBe(429);
    expect(Number(third.headers['retry-after'])).toBeGreaterThan(0);
  });

  it('answers 503 and leaves no request behind when the job cannot be queued', async () => {
    const proxy = new TcpProxy(6379);
    const port = await proxy.start();
    const down = await createTestContext({ env: { REDIS_URL: `redis://127.0.0.1:${port}` } });
    try {
      const other = await down.createApp('com.privacy.queue-down');
      const first = await down.http.post('/v1/privacy/requests').set(down.admin).send({ appId: other.appId, type: 'access', deviceId: 'queued', jurisdiction: 'gdpr' });
      expect(first.status).toBe(202);
      await proxy.stop();
      const started = Date.now();
      const res = await down.http.post('/v1/privacy/requests').set(down.admin).send({ appId: other.appId, type: 'delete', deviceId: 'queued', jurisdiction: 'gdpr' });
      expect(res.status).toBe(503);
      expect(res.headers['retry-after']).toBeDefined();
      expect(Date.now() - started).toBeLessThan(10_000);
      const db = down.container.mongo.db!;
      expect((await db.collection('privacy_requests').find({}).toArray()).map((r) => r._id)).toEqual([first.body.id]);
      expect(await db.collection('privacy_request_claims').countDocuments({ type: 'delete' })).toBe(0);
    } finally {
      await proxy.stop();
      await down.close();
    }
  });
});
