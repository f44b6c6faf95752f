import { Queue, type ConnectionOptions, type JobsOptions } from 'bullmq';
import { UnavailableError } from './errors.js';

/**
 * Every BullMQ queue and its payload, in one place. Payloads carry ids, never documents, secrets or
 * raw device ids; processors re-read state from the database so a retried job sees the truth.
 */
export interface JobPayloads {
  /** One guard evaluation of one rollout for one time bucket (bucketStart in epoch ms). */
  guard: { rolloutId: string; bucketStart: number };
  /** Runs (or resumes) the checkpointed steps of one privacy request. */
  privacy: { requestId: string };
  /** Delivers (or retries) one stored webhook delivery. */
  webhooks: { deliveryId: string };
  /** Periodic metric upkeep: the missing-app_ready rule and reconciliation. */
  metrics: { task: 'launch-timeouts' | 'reconcile'; appId?: string };
  /** Periodic purge of raw events and exports past their retention. */
  retention: { task: 'purge' | 'deadlines' };
}

export type QueueName = keyof JobPayloads;
export const QUEUE_NAMES: readonly QueueName[] = ['guard', 'privacy', 'webhooks', 'metrics', 'retention'];

export const DEFAULT_JOB_OPTIONS: JobsOptions = {
  attempts: 8,
  backoff: { type: 'exponential', delay: 1000 },
  removeOnComplete: { age: 24 * 3600, count: 10_000 },
  removeOnFail: { age: 7 * 24 * 3600 },
};

export class Queues {
  private readonly queues = new Map<QueueName, Queue>();

  constructor(
    private readonly connection: ConnectionOptions,
    readonly prefix: string,
    private readonly addTimeoutMs = 5000,
  ) {}

  get<N extends QueueName>(name: N): Queue<JobPayloads[N]> {
    let queue = this.queues.get(name);
    if (!queue) {
      queue = new Queue(name, { connection: this.connection, prefix: this.prefix, defaultJobOptions: DEFAULT_JOB_OPTIONS });
      // Errors surface on add(); without a listener an outage would be an unhandled 'error' event.
      queue.on('error', () => undefined);
      this.queues.set(name, queue);
    }
    return queue as unknown as Queue<JobPayloads[N]>;
  }

  /**
   * `jobId` makes the add idempotent: BullMQ ignores a second job with the same id. While Redis is
   * unreachable BullMQ waits for the connection instead of failing, so the add is bounded: the
   * caller gets UnavailableError (HTTP 503 with Retry-After) rather than a hanging request.
   */
  async add<N extends QueueName>(name: N, payload: JobPayloads[N], options: JobsOptions = {}): Promise<void> {
    const queue = this.get(name) as Queue;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new UnavailableError('The job queue (Redis) is unavailable; retry later')), this.addTimeoutMs);
    });
    const adding = queue.add(name, payload, options);
    adding.catch(() => undefined);
    try {
      await Promise.race([adding, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  async depths(): Promise<Record<QueueName, number>> {
    const entries = await Promise.all(
      QUEUE_NAMES.map(async (name) => {
        const counts = await this.get(name).getJobCounts('waiting', 'delayed', 'active', 'prioritized');
        return [name, Object.values(counts).reduce((a, b) => a + b, 0)] as const;
      }),
    );
    return Object.fromEntries(entries) as Record<QueueName, number>;
  }

  async close(): Promise<void> {
    await Promise.all([...this.queues.values()].map((queue) => queue.close()));
    this.queues.clear();
  }
}
