import type { Redis } from 'ioredis';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import { RateLimitedError } from '../errors.js';

/** Device self-service requests per app: the ingest key is public, and every request starts a job. */
export interface DeviceRequestLimit {
  consume(appId: string): Promise<void>;
}

export class RedisDeviceRequestLimit implements DeviceRequestLimit {
  private readonly limiter: RateLimiterRedis;

  constructor(redis: Redis, prefix: string, perHour: number) {
    const keyPrefix = `${prefix}:rl:privacy-device`;
    this.limiter = new RateLimiterRedis({
      storeClient: redis,
      keyPrefix,
      points: perHour,
      duration: 3600,
      rejectIfRedisNotReady: true,
      insuranceLimiter: new RateLimiterMemory({ keyPrefix, points: perHour, duration: 3600 }),
    });
  }

  async consume(appId: string): Promise<void> {
    try {
      await this.limiter.consume(appId, 1);
    } catch (err) {
      if (!(err instanceof RateLimiterRes)) throw err;
      const seconds = Math.max(1, Math.ceil(err.msBeforeNext / 1000));
      throw new RateLimitedError(`This app is over its limit of device privacy requests; retry in ${seconds} s`, seconds);
    }
  }
}
