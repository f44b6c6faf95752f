import type { Container } from '../src/container.js';
import type { Processor } from './processors.js';

/**
 * One guard evaluation per (rollout, bucket); each run schedules the next bucket. At worker start every
 * active rollout's current bucket is (re-)armed, so a chain broken by an outage resumes by itself (the
 * job id makes arming an already-scheduled bucket a no-op).
 */
export function guardProcessor(container: Container): Processor<'guard'> {
  const { guard, rolloutStore, scheduler } = container.rollouts;
  const armActive = async (): Promise<void> => {
    const now = container.clock.now().getTime();
    for (const id of await rolloutStore.activeIds()) await scheduler.scheduleCurrent(id, now);
  };
  armActive().catch((err: unknown) => container.logger.warn({ err: (err as Error).message }, 'could not arm active rollouts'));
  return async ({ rolloutId, bucketStart }) => {
    const started = Date.now();
    const outcome = await guard.run(rolloutId, bucketStart);
    const lateMs = started - scheduler.cutoffOf(bucketStart);
    container.logger.debug({ rolloutId, bucketStart, outcome, ms: Date.now() - started, lateMs }, 'guard evaluation');
    return outcome;
  };
}
