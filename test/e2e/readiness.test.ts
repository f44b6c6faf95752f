import { randomBytes } from 'node:crypto';
import supertest from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/app.js';
import { testConfig } from '../../src/config.js';
import { createContainer, type Container } from '../../src/container.js';
import { captureLogs } from '../helpers/log-capture.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';
import { uniqueName } from '../helpers/test-context.js';

// The real FerretDB and Redis, reached through proxies this test can cut.
const mongoProxy = new TcpProxy(27017);
const redisProxy = new TcpProxy(6379);
let container: Container;
let http: supertest.Agent;

beforeAll(async () => {
  const mongoPort = await mongoProxy.start();
  const redisPort = await redisProxy.start();
  const dbName = uniqueName('ready');
  const config = testConfig(
    { queuePrefix: uniqueName('q') },
    {
      MONGODB_URL: `mongodb://127.0.0.1:${mongoPort}/${dbName}?serverSelectionTimeoutMS=800&connectTimeoutMS=800`,
      REDIS_URL: `redis://127.0.0.1:${redisPort}`,
      MASTER_KEY: randomBytes(32).toString('hex'),
    },
  );
  container = await createContainer(config, { logger: captureLogs().logger });
  http = supertest.agent(createApp(container));
});

afterAll(async () => {
  await container.mongo.db?.dropDatabase().catch(() => undefined);
  await container.close();
  await mongoProxy.stop();
  await redisProxy.stop();
});

async function readiness(): Promise<{ status: number; body: { checks: Record<string, string> } }> {
  const res = await http.get('/readyz');
  return { status: res.status, body: res.body };
}

async function eventually(expectation: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await expectation())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('/readyz', () => {
  it('is 200 when both dependencies are up', async () => {
    expect(await readiness()).toEqual({ status: 200, body: { status: 'ok', checks: { mongodb: 'up', redis: 'up' } } });
  });

  it('is 503 naming Redis while Redis is unreachable, and recovers', async () => {
    const port = redisProxy.port;
    await redisProxy.stop();
    const down = await readiness();
    expect(down.status).toBe(503);
    expect(down.body.checks).toEqual({ mongodb: 'up', redis: 'down' });
    await redisProxy.start(port);
    await eventually(async () => (await readiness()).status === 200);
  });

  it('is 503 naming the database while it is unreachable, and recovers', async () => {
    const port = mongoProxy.port;
    await mongoProxy.stop();
    const down = await readiness();
    expect(down.status).toBe(503);
    expect(down.body.checks).toEqual({ mongodb: 'down', redis: 'up' });
    await mongoProxy.start(port);
    await eventually(async () => (await readiness()).status === 200);
  });
});
