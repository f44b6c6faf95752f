import { randomBytes, randomUUID } from 'node:crypto';
import mongoose from 'mongoose';
import { afterAll, describe, expect, it } from 'vitest';
import { eventIdOf, type StoredEvent } from '../../src/ingest/stored-event.js';
import { event, type EventInput } from '../helpers/ingest-fixtures.js';
import { freePort, ServerProcess } from '../helpers/ingest-server.js';
import { deleteRedisPrefix, MONGO_BASE_URL, REDIS_URL, uniqueName } from '../helpers/test-context.js';

const dbName = uniqueName('crash');
const prefix = uniqueName('q');
const adminKey = `adm_${randomBytes(24).toString('hex')}`;
const { MongoClient } = mongoose.mongo;
let server: ServerProcess;

afterAll(async () => {
  await server?.kill('SIGTERM');
  const client = await MongoClient.connect(`${MONGO_BASE_URL}/${dbName}`);
  await client.db(dbName).dropDatabase().catch(() => undefined);
  await client.close();
  await deleteRedisPrefix(prefix);
});

async function post(path: string, key: string, body: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${server.url}${path}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${key}` },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

describe('kill -9 under load', () => {
  it('loses no acknowledged event and stores none twice', async () => {
    const port = await freePort();
    server = new ServerProcess(
      {
        NODE_ENV: 'test',
        ROLE: 'api',
        LOG_LEVEL: 'warn',
        MONGODB_URL: `${MONGO_BASE_URL}/${dbName}`,
        REDIS_URL,
        QUEUE_PREFIX: prefix,
        MASTER_KEY: 'ab'.repeat(32),
        BOOTSTRAP_ADMIN_KEY: adminKey,
      },
      port,
    );
    await server.start();
    const created = await post('/v1/apps', adminKey, { appId: 'com.test.crash', name: 'Crash' });
    const ingestKey = String(created.body.ingestKey);
    const devices = Array.from({ length: 16 }, () => `device-${randomUUID()}`);
    for (const deviceId of devices) {
      expect((await post('/v1/consent', ingestKey, { deviceId, granted: true, purposes: ['telemetry'], policyVersion: '1', source: 'test' })).status).toBe(201);
    }

    const acknowledged = new Set<string>();
    const unacknowledged: EventInput[][] = [];
    let killed = false;
    const writer = async (w: number): Promise<void> => {
      for (let i = 0; !killed || i === 0; i++) {
        const batch = Array.from({ length: 25 }, () => event(devices[(w + i) % devices.length]!));
        try {
          const res = await post('/v1/events', ingestKey, { events: batch });
          if (res.status !== 202) throw new Error(`status ${res.status}`);
          expect(res.body).toMatchObject({ accepted: 25, duplicates: 0, rejected: [] });
          for (const e of batch) acknowledged.add(e.eventId);
        } catch {
          unacknowledged.push(batch);
          if (killed) return;
        }
      }
    };
    const load = Promise.all(Array.from({ length: 8 }, (_, w) => writer(w)));
    while (acknowledged.size < 1500) await new Promise((r) => setTimeout(r, 20));
    killed = true;
    await server.kill('SIGKILL');
    await load;
    expect(unacknowledged.length).toBeGreaterThan(0); // it really died mid-load

    await server.start();
    const client = await MongoClient.connect(`${MONGO_BASE_URL}/${dbName}`);
    try {
      const events = client.db(dbName).collection<Pick<StoredEvent, '_id' | 'appId'>>('events');
      const ids = (await events.find({}, { projection: { _id: 1, appId: 1 } }).toArray()).map(eventIdOf);
      const storedIds = new Set(ids);
      const lost = [...acknowledged].filter((id) => !storedIds.has(id));
      expect(lost).toEqual([]);
      expect(ids.length).toBe(storedIds.size);

      // Resending what was never acknowledged stores each of those events once as well.
      for (const batch of unacknowledged) {
        const res = await post('/v1/events', ingestKey, { events: batch });
        expect(res.status).toBe(202);
        expect(Number(res.body.accepted) + Number(res.body.duplicates)).toBe(batch.length);
      }
      const sent = new Set([...acknowledged, ...unacknowledged.flat().map((e) => e.eventId)]);
      expect(await events.countDocuments()).toBe(sent.size);
    } finally {
      await client.close();
    }
  }, 120_000);
});
