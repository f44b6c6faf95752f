import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWorkers, type Workers } from '../../jobs/worker.js';
import { eventDocId } from '../../src/ingest/stored-event.js';
import { pidCollections } from '../../src/privacy/pid-registry.js';
import type { SignedReceipt } from '../../src/privacy/receipts.js';
import { createTestContext, MONGO_BASE_URL, REDIS_URL, type TestContext } from '../helpers/test-context.js';
import { waitFor } from '../helpers/webhook-receiver.js';
import { seedDevice, settled } from './privacy-helpers.js';

/**
 * A worker process is killed with SIGKILL in the middle of an erasure — after it counted the device's
 * events and while it deletes them — and another worker finishes the job: every record is gone, nothing
 * is done twice that matters, and the receipt's counts are the records the device had.
 */
let ctx: TestContext;
let app: { appId: string; ingest: { Authorization: string } };
let child: ChildProcess | undefined;
let workers: Workers | undefined;
let output = '';
const A = 'crash-device-A';
const B = 'crash-device-B';
const BULK = 15_000;

const db = () => ctx.container.mongo.db!;
const pidOf = (deviceId: string): string => ctx.container.pseudonyms.pid(app.appId, deviceId);

async function holdings(pid: string): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const c of pidCollections(ctx.container.mongo)) {
    if (!c.meta.keepOnErasure) out[c.collectionName] = await db().collection(c.collectionName).countDocuments({ appId: app.appId, [c.meta.pidField]: pid });
  }
  return out;
}

async function bulkEvents(pid: string, prefix: string): Promise<void> {
  const now = Date.now();
  for (let start = 0; start < BULK; start += 5000) {
    const docs = Array.from({ length: 5000 }, (_, i) => ({
      _id: eventDocId(app.appId, pid, `${prefix}-${start + i}`),
      appId: app.appId,
      pid,
      type: 'installed',
      version: '1.2.0',
      channel: 'production',
      platform: 'ios',
      occurredAt: new Date(now - 3_600_000),
      receivedAt: new Date(now - 3_600_000),
    }));
    await db().collection('events').insertMany(docs as never[], { ordered: false });
  }
}

function startChildWorker(): Promise<void> {
  child = spawn(process.execPath, ['--import', 'tsx', 'jobs/worker.ts'], {
    env: {
      ...process.env,
      NODE_ENV: 'test',
      LOG_LEVEL: 'info',
      MONGODB_URL: `${MONGO_BASE_URL}/${ctx.dbName}`,
      REDIS_URL,
      QUEUE_PREFIX: ctx.config.queuePrefix,
      MASTER_KEY: ctx.config.masterKey.toString('hex'),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  return waitFor(async () => output.includes('otaguard workers started') || (child?.exitCode !== null && Promise.reject(new Error(output))), 30_000, 'child worker').then(() => undefined);
}

beforeAll(async () => {
  ctx = await createTestContext();
  app = await ctx.createApp('com.privacy.crash');
  await seedDevice(ctx, app.ingest, A, 20);
  await seedDevice(ctx, app.ingest, B, 20);
  await bulkEvents(pidOf(A), 'a');
  await bulkEvents(pidOf(B), 'b');
}, 180_000);

afterAll(async () => {
  if (child?.pid && child.exitCode === null && child.signalCode === null) process.kill(-child.pid, 'SIGKILL');
  await workers?.close();
  await ctx?.close();
});

describe('worker killed mid-erasure', () => {
  it('resumes on another worker and issues a receipt with the right counts', async () => {
    const before = await holdings(pidOf(A));
    const untouched = await holdings(pidOf(B));
    expect(before.events).toBe(BULK + 20);
    await startChildWorker();

    const res = await ctx.http.post('/v1/privacy/requests').set(ctx.admin).send({ appId: app.appId, type: 'delete', deviceId: A, jurisdiction: 'gdpr' });
    const id = res.body.id as string;
    type Step = { name: string; status: string; records?: number; attempts: number };
    // Kill as soon as the events step has persisted its count: its deleteMany is then under way.
    const atKill = await waitFor(
      async () => {
        const doc = await db().collection('privacy_requests').findOne({ _id: id } as never);
        const step = (doc?.steps as Step[] | undefined)?.find((s) => s.name === 'erase:events');
        if (step?.status === 'running' && step.records !== undefined) {
          process.kill(-child!.pid!, 'SIGKILL');
          return doc!;
        }
        return undefined;
      },
      60_000,
      'the erasure of events to start',
    );
    await new Promise<void>((resolve) => (child!.exitCode !== null || child!.signalCode !== null ? resolve() : child!.once('exit', () => resolve())));
    expect(atKill.status).toBe('processing');
    expect((atKill.steps as Step[]).find((s) => s.name === 'suppress')?.status).toBe('done');

    // A fresh worker: BullMQ notices the dead worker's lock expire and hands the job over.
    workers = startWorkers(ctx.container);
    const done = await settled(ctx, id, 150_000);
    expect(done.status).toBe('completed');
    const steps = done.steps as Step[];
    expect(steps.find((s) => s.name === 'erase:events')!.attempts).toBe(2);
    expect(steps.find((s) => s.name === 'suppress')!.attempts).toBe(1);

    const receipt = (await ctx.http.get(`/v1/privacy/requests/${id}/receipt`).set(ctx.admin)).body as SignedReceipt;
    expect(receipt.receipt.erased).toEqual(before);
    expect(Object.values(await holdings(pidOf(A))).every((n) => n === 0)).toBe(true);
    expect(await holdings(pidOf(B))).toEqual(untouched);
    expect(await ctx.container.privacy.receipts.verifyChain()).toEqual({ valid: true, checked: 1 });
  }, 240_000);
});
