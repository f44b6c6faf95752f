import { randomBytes } from 'node:crypto';
import type { Express } from 'express';
import { Redis } from 'ioredis';
import mongoose from 'mongoose';
import supertest from 'supertest';
import { createApp } from '../../src/app.js';
import type { Clock } from '../../src/clock.js';
import { testConfig, type Config } from '../../src/config.js';
import { createContainer, type Container } from '../../src/container.js';
import { captureLogs } from './log-capture.js';

export const MONGO_BASE_URL = 'mongodb://127.0.0.1:27017';
export const REDIS_URL = 'redis://127.0.0.1:6379';

export interface TestContext {
  config: Config;
  container: Container;
  app: Express;
  http: supertest.Agent;
  /** Bearer header of the bootstrap admin key. */
  admin: { Authorization: string };
  logs: string[];
  dbName: string;
  /** Creates an app and returns its id and ingest key header. */
  createApp(appId?: string): Promise<{ appId: string; ingest: { Authorization: string }; ingestKey: string }>;
  close(): Promise<void>;
}

export function uniqueName(prefix: string): string {
  return `${prefix}_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
}

/**
 * A container and app on a database and queue prefix of their own, with captured logs. `close()` drops
 * the database and deletes the prefix's Redis keys.
 */
export async function createTestContext(
  /** `dbName` (with the same `config.queuePrefix` and `env.MASTER_KEY`) puts a second container on another's data. */
  options: { clock?: Clock; config?: Partial<Config>; env?: Record<string, string>; dbName?: string } = {},
): Promise<TestContext> {
  const dbName = options.dbName ?? uniqueName('t');
  const adminKey = `adm_${randomBytes(24).toString('hex')}`;
  const config = testConfig(
    { queuePrefix: uniqueName('q'), ...options.config },
    {
      MONGODB_URL: `${MONGO_BASE_URL}/${dbName}`,
      REDIS_URL,
      BOOTSTRAP_ADMIN_KEY: adminKey,
      MASTER_KEY: randomBytes(32).toString('hex'),
      LOG_LEVEL: 'debug',
      ...options.env,
    },
  );
  const { logger, lines } = captureLogs();
  const container = await createContainer(config, { logger, ...(options.clock ? { clock: options.clock } : {}) });
  const app = createApp(container);
  const admin = { Authorization: `Bearer ${adminKey}` };
  const http = supertest.agent(app);
  let appCounter = 0;

  return {
    config,
    container,
    app,
    http,
    admin,
    logs: lines,
    dbName,
    async createApp(appId = `com.test.app${++appCounter}`) {
      const res = await supertest(app).post('/v1/apps').set(admin).send({ appId, name: appId });
      if (res.status !== 201) throw new Error(`createApp failed: ${res.status} ${JSON.stringify(res.body)}`);
      const ingestKey = String(res.body.ingestKey);
      return { appId, ingestKey, ingest: { Authorization: `Bearer ${ingestKey}` } };
    },
    async close() {
      // Close first: the container's final metric flush would otherwise recreate the dropped database.
      await container.close();
      await dropDatabase(config.mongodbUrl);
      await deleteRedisPrefix(config.queuePrefix);
    },
  };
}

/**
 * Two containers — two "processes" — on one database, one queue prefix and one master key, for tests
 * of what must hold across api/worker copies. `close()` closes the second, then the first (which drops
 * the database).
 */
export async function createTwoProcesses(
  options: { clock?: Clock } = {},
): Promise<{ one: TestContext; two: TestContext; close(): Promise<void> }> {
  const shared = {
    config: { queuePrefix: uniqueName('q') },
    env: { MASTER_KEY: randomBytes(32).toString('hex') },
    ...(options.clock ? { clock: options.clock } : {}),
  };
  const one = await createTestContext(shared);
  const two = await createTestContext({ ...shared, dbName: one.dbName });
  return {
    one,
    two,
    async close() {
      await two.container.close();
      await one.close();
    },
  };
}

export async function dropDatabase(url: string): Promise<void> {
  const connection = await mongoose.createConnection(url, { serverSelectionTimeoutMS: 5000 }).asPromise();
  try {
    await connection.db?.dropDatabase();
  } finally {
    await connection.close();
  }
}

export async function deleteRedisPrefix(prefix: string): Promise<void> {
  const redis = new Redis(REDIS_URL);
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) await redis.del(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}
