import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { RedisGenerations } from '../../src/ingest/generations.js';
import { deleteRedisPrefix, REDIS_URL, uniqueName } from '../helpers/test-context.js';

const redis = new Redis(REDIS_URL);
const prefix = uniqueName('generations');
afterAll(async () => {
  await deleteRedisPrefix(prefix);
  redis.disconnect();
});

/** Counts the MGETs `redis` sends while `work` runs. */
async function mgets<T>(work: () => Promise<T>): Promise<{ result: T; calls: number }> {
  const mget = redis.mget.bind(redis);
  let calls = 0;
  redis.mget = ((...args: Parameters<typeof mget>) => {
    calls++;
    return mget(...args);
  }) as typeof redis.mget;
  try {
    return { result: await work(), calls };
  } finally {
    redis.mget = mget;
  }
}

describe('generation tokens in Redis', () => {
  it('answer the reads of one tick with one MGET, each with its own scopes in order', async () => {
    const generations = new RedisGenerations(redis, prefix);
    await generations.advance('a');
    await generations.advance('c');
    const { result, calls } = await mgets(() =>
      Promise.all([generations.read(['a', 'b']), generations.read(['c']), generations.read(['a']), generations.read([])]),
    );
    expect(calls).toBe(1);
    const [ab, c, a, none] = result;
    expect(ab![1]).toMatch(/:-$/); // never advanced
    expect(ab![0]).not.toBe(c![0]);
    expect(a).toEqual([ab![0]]);
    expect(none).toEqual([]);
  });

  it('read a change made before the read was asked for, and separate ticks separately', async () => {
    const generations = new RedisGenerations(redis, prefix);
    const { result: before, calls: first } = await mgets(() => generations.read(['d']));
    await generations.advance('d');
    const { result: after, calls: second } = await mgets(() => generations.read(['d']));
    expect([first, second]).toEqual([1, 1]);
    expect(after).not.toEqual(before);
  });

  it('answer undefined to every read of the tick when Redis cannot answer', async () => {
    // Never connected, and commands are refused rather than queued: every command fails at once.
    const down = new Redis(REDIS_URL, { lazyConnect: true, enableOfflineQueue: false });
    down.on('error', () => undefined);
    const generations = new RedisGenerations(down, prefix);
    expect(await Promise.all([generations.read(['a']), generations.read(['b'])])).toEqual([undefined, undefined]);
    down.disconnect();
  });
});
