import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UnavailableError } from '../../src/errors.js';
import { Queues } from '../../src/queues.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';
import { deleteRedisPrefix, uniqueName } from '../helpers/test-context.js';

// The real Redis behind a proxy this test can cut.
const proxy = new TcpProxy(6379);
const prefix = uniqueName('q');
let queues: Queues;

beforeAll(async () => {
  const port = await proxy.start();
  queues = new Queues({ url: `redis://127.0.0.1:${port}`, maxRetriesPerRequest: null, enableOfflineQueue: false }, prefix, 1500);
});
afterAll(async () => {
  await proxy.stop();
  await deleteRedisPrefix(prefix);
  void queues.close().catch(() => undefined);
});

describe('job producers', () => {
  it('enqueue while Redis is up', async () => {
    await queues.add('webhooks', { deliveryId: randomUUID() }, { jobId: 'up' });
    expect(await queues.get('webhooks').getJob('up')).toBeDefined();
  });

  it('fail fast with UnavailableError while Redis is unreachable, instead of hanging', async () => {
    await proxy.stop();
    // Unbounded, BullMQ would wait for Redis until the test times out.
    await expect(queues.add('webhooks', { deliveryId: randomUUID() }, { jobId: 'down' })).rejects.toBeInstanceOf(UnavailableError);
  });
});
