import type { Job } from 'bullmq';
import type { Container } from '../src/container.js';
import type { JobPayloads, QueueName } from '../src/queues.js';
import { guardProcessor } from './guard.js';
import { metricsProcessor } from './metrics.js';
import { privacyProcessor } from './privacy.js';
import { retentionProcessor } from './retention.js';
import { webhooksProcessor } from './webhooks.js';

export type Processor<N extends QueueName> = (payload: JobPayloads[N], job: Job<JobPayloads[N]>) => Promise<unknown>;

export type ProcessorFactories = { [N in QueueName]?: (container: Container) => Processor<N> };

/** One processor per queue; each lives in its own file under jobs/ and only calls a service. */
export const PROCESSORS: ProcessorFactories = {
  guard: guardProcessor,
  metrics: metricsProcessor,
  privacy: privacyProcessor,
  retention: retentionProcessor,
  webhooks: webhooksProcessor,
};
