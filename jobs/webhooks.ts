import type { Container } from '../src/container.js';
import type { Processor } from './processors.js';

/** Delivers one stored webhook delivery; a failed attempt throws so BullMQ retries it with backoff. */
export function webhooksProcessor(container: Container): Processor<'webhooks'> {
  return async ({ deliveryId }, job) => {
    const attempts = job.opts.attempts ?? 1;
    return container.webhooks.deliver(deliveryId, job.attemptsMade + 1 >= attempts);
  };
}
