import type { Container } from '../src/container.js';
import type { Processor } from './processors.js';

/**
 * Two repeatable schedules on the `retention` queue, upserted at every worker start (so each exists once,
 * and `off` in the configuration removes it): the retention purge (`RETENTION_CRON`, daily by default)
 * and the privacy deadline check (`PRIVACY_DEADLINES_CRON`, every 15 minutes by default). Cron times are UTC.
 */
export function retentionProcessor(container: Container): Processor<'retention'> {
  const { config, logger } = container;
  const queue = container.queues.get('retention');
  const schedule = async (id: string, pattern: string | undefined, task: 'purge' | 'deadlines'): Promise<void> => {
    if (pattern === undefined) await queue.removeJobScheduler(id);
    else await queue.upsertJobScheduler(id, { pattern, tz: 'UTC' }, { name: 'retention', data: { task } });
  };
  Promise.all([
    schedule('retention-purge', config.retentionCron, 'purge'),
    schedule('privacy-deadlines', config.privacyDeadlinesCron, 'deadlines'),
  ]).catch((err: unknown) => logger.warn({ err: (err as Error).message }, 'could not schedule retention jobs'));

  return async ({ task }) => {
    if (task === 'deadlines') return container.privacy.deadlines.check();
    const run = await container.privacy.retention.purge();
    return { runId: run.id, exportsPurged: run.exportsPurged, deleted: run.purged.reduce((sum, p) => sum + p.deleted, 0) };
  };
}
