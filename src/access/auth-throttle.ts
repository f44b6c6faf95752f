import { createHmac } from 'node:crypto';
import type { Redis } from 'ioredis';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';

/**
 * Counts failed authentications per source and blocks a source that fails too often. A blocked source
 * gets 429 for every request, right key or not, so the throttle never becomes an oracle for guesses.
 */
export interface AuthThrottle {
  /** Seconds the source must wait, or 0 when it may try. */
  blockedFor(source: string): Promise<number>;
  /** Records one failure; seconds the source must now wait, or 0. */
  recordFailure(source: string): Promise<number>;
}

export interface AuthThrottleOptions {
  /** Failures allowed per source in `windowSeconds` before the source is blocked. */
  failures: number;
  windowSeconds: number;
  blockSeconds: number;
}

export const DEFAULT_AUTH_THROTTLE: AuthThrottleOptions = { failures: 20, windowSeconds: 60, blockSeconds: 300 };

const REDIS_TIMEOUT_MS = 250;

function secondsOf(res: RateLimiterRes | null, limit: number): number {
  if (!res || res.consumedPoints <= limit) return 0;
  return Math.max(1, Math.ceil(res.msBeforeNext / 1000));
}

/**
 * Redis-backed, shared by every api process. Sources are addresses HMAC-ed with a key derived from
 * MASTER_KEY: no raw IP reaches Redis, and the 2^32 IPv4 space cannot be brute-forced back from a hash.
 *
 * When Redis is down or slow (over 250 ms), counting falls back to an in-process memory limiter with the
 * same limits: attackers are still throttled per process, and valid keys keep working, because
 * authentication itself never depends on Redis. Deliberately neither fully open nor closed.
 */
export class RedisAuthThrottle implements AuthThrottle {
  private readonly limiter: RateLimiterRedis;
  private readonly insurance: RateLimiterMemory;

  constructor(
    redis: Redis,
    prefix: string,
    private readonly hashKey: Buffer,
    private readonly options: AuthThrottleOptions = DEFAULT_AUTH_THROTTLE,
  ) {
    const common = { points: options.failures, duration: options.windowSeconds, blockDuration: options.blockSeconds };
    this.insurance = new RateLimiterMemory({ ...common, keyPrefix: `${prefix}:authfail` });
    this.limiter = new RateLimiterRedis({
      ...common,
      storeClient: redis,
      keyPrefix: `${prefix}:authfail`,
      rejectIfRedisNotReady: true,
      insuranceLimiter: this.insurance,
    });
  }

  private key(source: string): string {
    return createHmac('sha256', this.hashKey).update(source).digest('base64url');
  }

  /** Resolves with the Redis answer, or the insurance limiter's when Redis takes too long. */
  private async withTimeout<T>(redisCall: Promise<T>, fallback: () => Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const slow = new Promise<'slow'>((resolve) => {
      timer = setTimeout(() => resolve('slow'), REDIS_TIMEOUT_MS);
    });
    try {
      const winner = await Promise.race([redisCall, slow]);
      if (winner === 'slow') {
        redisCall.catch(() => undefined);
        return await fallback();
      }
      return winner as T;
    } finally {
      clearTimeout(timer);
    }
  }

  async blockedFor(source: string): Promise<number> {
    const key = this.key(source);
    const res = await this.withTimeout(this.limiter.get(key), () => this.insurance.get(key));
    return secondsOf(res, this.options.failures);
  }

  async recordFailure(source: string): Promise<number> {
    const key = this.key(source);
    const consume = (limiter: RateLimiterRedis | RateLimiterMemory): Promise<RateLimiterRes> =>
      limiter.consume(key).catch((res: unknown) => {
        if (res instanceof RateLimiterRes) return res;
        throw res;
      });
    const res = await this.withTimeout(consume(this.limiter), () => consume(this.insurance));
    return secondsOf(res, this.options.failures);
  }
}

/** For unit tests and single-process tools. */
export class MemoryAuthThrottle implements AuthThrottle {
  private readonly limiter: RateLimiterMemory;

  constructor(private readonly options: AuthThrottleOptions = DEFAULT_AUTH_THROTTLE) {
    this.limiter = new RateLimiterMemory({ points: options.failures, duration: options.windowSeconds, blockDuration: options.blockSeconds });
  }

  async blockedFor(source: string): Promise<number> {
    return secondsOf(await this.limiter.get(source), this.options.failures);
  }

  async recordFailure(source: string): Promise<number> {
    const res = await this.limiter.consume(source).catch((r: unknown) => {
      if (r instanceof RateLimiterRes) return r;
      throw r;
    });
    return secondsOf(res, this.options.failures);
  }
}
