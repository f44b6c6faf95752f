import type { Queues } from '../queues.js';

/**
 * One guard job per rollout per bucket, `jobId = guard:<rolloutId>:<bucketStart>`: BullMQ keeps a
 * single job per id, so however many processes schedule the same bucket it is evaluated once.
 * A bucket is evaluated once it has closed and late writes have settled (`settleMs`).
 */
export class GuardScheduler {
  constructor(
    private readonly queues: Queues,
    readonly bucketMs: number,
    readonly settleMs: number = Math.min(5000, Math.floor(bucketMs / 2)),
  ) {}

  bucketOf(at: number): number {
    return Math.floor(at / this.bucketMs) * this.bucketMs;
  }

  /** Events received before this instant belong to the evaluation of `bucketStart`. */
  cutoffOf(bucketStart: number): number {
    return bucketStart + this.bucketMs + this.settleMs;
  }

  /** Schedules the evaluation of the bucket containing `now` (the rollout just became active). */
  async scheduleCurrent(rolloutId: string, now: number): Promise<void> {
    await this.schedule(rolloutId, this.bucketOf(now), now);
  }

  async schedule(rolloutId: string, bucketStart: number, now: number): Promise<void> {
    const delay = Math.max(0, this.cutoffOf(bucketStart) - now);
    await this.queues.add('guard', { rolloutId, bucketStart }, { jobId: `guard:${rolloutId}:${bucketStart}`, delay });
  }
}
