import type { Redis } from 'ioredis';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import { RateLimitedError } from '../errors.js';

/** Per-app and per-device ingest budgets. Both throw RateLimitedError (→ 429 with Retry-After). */
export interface IngestRateLimits {
  consumeApp(appId: string, events: number): Promise<void>;
  /** `perPid`: events (or decisions) per pid in this request. Keys hold pids, never raw device ids. */
  consumeDevices(appId: string, perPid: ReadonlyMap<string, number>): Promise<void>;
}

export interface IngestRateLimitOptions {
  appEventsPerSecond: number;
  deviceEventsPerMinute: number;
}

function limiter(redis: Redis, keyPrefix: string, points: number, duration: number): RateLimiterRedis {
  return new RateLimiterRedis({
    storeClient: redis,
    keyPrefix,
    points,
    duration,
    rejectIfRedisNotReady: true,
    // Redis down: limits fall back to each process's memory instead of refusing telemetry that MongoDB
    // could still store durably. Looser (per process), never open.
    insuranceLimiter: new RateLimiterMemory({ keyPrefix, points, duration }),
  });
}

function retryAfter(res: RateLimiterRes): number {
  return Math.max(1, Math.ceil(res.msBeforeNext / 1000));
}

export class RedisIngestRateLimits implements IngestRateLimits {
  private readonly app: RateLimiterRedis;
  private readonly device: RateLimiterRedis;

  constructor(redis: Redis, prefix: string, options: IngestRateLimitOptions) {
    this.app = limiter(redis, `${prefix}:rl:ingest-app`, options.appEventsPerSecond, 1);
    this.device = limiter(redis, `${prefix}:rl:ingest-device`, options.deviceEventsPerMinute, 60);
  }

  async consumeApp(appId: string, events: number): Promise<void> {
    if (events <= 0) return;
    try {
      await this.app.consume(appId, events);
    } catch (err) {
      if (!(err instanceof RateLimiterRes)) throw err;
      const seconds = retryAfter(err);
      throw new RateLimitedError(`This app is over its ingest rate limit; retry in ${seconds} s`, seconds);
    }
  }

  async consumeDevices(appId: string, perPid: ReadonlyMap<string, number>): Promise<void> {
    const outcomes = await Promise.allSettled([...perPid].map(([pid, events]) => this.device.consume(`${appId}:${pid}`, events)));
    let seconds = 0;
    for (const outcome of outcomes) {
      if (outcome.status === 'fulfilled') continue;
      if (!(outcome.reason instanceof RateLimiterRes)) throw outcome.reason;
      seconds = Math.max(seconds, retryAfter(outcome.reason));
    }
    if (seconds > 0) {
      throw new RateLimitedError(`A device in this batch is over its ingest rate limit; retry in ${seconds} s`, seconds);
    }
  }
}

/**
 * Bounds the batches one process works on at once. Beyond the bound a request is refused at once
 * (503 + Retry-After) rather than queued: under overload, waiting lines only grow.
 */
export class InFlightGate {
  private active = 0;

  constructor(readonly max: number) {}

  get inFlight(): number {
    return this.active;
  }

  tryAcquire(): boolean {
    if (this.active >= this.max) return false;
    this.active++;
    return true;
  }

  release(): void {
    this.active = Math.max(0, this.active - 1);
  }
}
