import { UnrecoverableError } from 'bullmq';
import type { Container } from '../src/container.js';
import { PermanentStepError } from '../src/privacy/export-steps.js';
import type { Processor } from './processors.js';

/**
 * Runs (or resumes) one privacy request's checkpointed steps. A transient error throws so BullMQ retries
 * with backoff; a permanent one (or the last attempt) marks the request failed with its reason and
 * throws UnrecoverableError. A worker killed mid-way leaves the job stalled: BullMQ hands it to another
 * worker, which resumes at the first unfinished step.
 */
export function privacyProcessor(container: Container): Processor<'privacy'> {
  const { processor } = container.privacy;
  return async ({ requestId }, job) => {
    const attempts = job.opts.attempts ?? 1;
    try {
      return await processor.run(requestId, { number: job.attemptsMade + 1, final: job.attemptsMade + 1 >= attempts });
    } catch (err) {
      if (err instanceof PermanentStepError) throw new UnrecoverableError(err.message);
      throw err;
    }
  };
}
