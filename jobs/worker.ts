import { pathToFileURL } from 'node:url';
import { Worker } from 'bullmq';
import type { Container } from '../src/container.js';
import { QUEUE_NAMES, type QueueName } from '../src/queues.js';
import { PROCESSORS, type ProcessorFactories } from './processors.js';

export interface Workers {
  readonly workers: readonly Worker[];
  /** Stops taking jobs, waits for the active ones, then closes. */
  close(): Promise<void>;
}

/** One BullMQ Worker per queue that has a processor. Workers reconnect to Redis forever. */
export function startWorkers(container: Container, factories: ProcessorFactories = PROCESSORS): Workers {
  const { config, logger } = container;
  const workers: Worker[] = [];
  for (const name of QUEUE_NAMES) {
    const factory = factories[name] as ((c: Container) => (payload: unknown, job: never) => Promise<unknown>) | undefined;
    if (!factory) continue;
    const processor = factory(container);
    const worker = new Worker(name as QueueName, async (job) => processor(job.data, job as never), {
      connection: { url: config.redisUrl, maxRetriesPerRequest: null },
      prefix: config.queuePrefix,
      concurrency: 4,
    });
    worker.on('failed', (job, err) => {
      // Messages of our own errors never carry raw identifiers; job data does not either (ids only).
      logger.warn({ queue: name, jobId: job?.id, attempts: job?.attemptsMade, err: err.message }, 'job failed');
    });
    worker.on('error', (err) => logger.warn({ queue: name, err: err.message }, 'worker error'));
    workers.push(worker);
  }
  return {
    workers,
    close: async () => {
      await Promise.all(workers.map((worker) => worker.close()));
    },
  };
}

async function main(): Promise<void> {
  const { runProcess } = await import('../src/main.js');
  await runProcess('worker');
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  void main();
}
