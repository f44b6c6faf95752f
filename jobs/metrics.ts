import type { Container } from '../src/container.js';
import type { Processor } from './processors.js';

export const LAUNCH_TIMEOUTS_EVERY_MS = 60_000;
export const RECONCILE_EVERY_MS = 60 * 60_000;

/**
 * Metric upkeep. Two repeatable schedules (upserted at every worker start, so they exist exactly once):
 * the 10-minute launch rule every minute, and reconciliation every hour — which fans out one job per app
 * (today and yesterday) and then reconciles the days that late events were queued for.
 */
export function metricsProcessor(container: Container): Processor<'metrics'> {
  const { launchTimeouts, reconciler } = container.deviceMetrics;
  const queue = container.queues.get('metrics');
  Promise.all([
    queue.upsertJobScheduler('metrics-launch-timeouts', { every: LAUNCH_TIMEOUTS_EVERY_MS }, { name: 'metrics', data: { task: 'launch-timeouts' } }),
    queue.upsertJobScheduler('metrics-reconcile', { every: RECONCILE_EVERY_MS }, { name: 'metrics', data: { task: 'reconcile' } }),
  ]).catch((err: unknown) => container.logger.warn({ err: (err as Error).message }, 'could not schedule metrics jobs'));

  return async ({ task, appId }) => {
    if (task === 'launch-timeouts') return launchTimeouts.run();
    if (appId !== undefined) return reconciler.reconcileRecent(appId);
    const hour = Math.floor(container.clock.now().getTime() / RECONCILE_EVERY_MS);
    for (const app of await container.apps.list()) {
      // The job id makes a retried fan-out a no-op.
      await container.queues.add('metrics', { task: 'reconcile', appId: app.appId }, { jobId: `reconcile-${app.appId}-${hour}` });
    }
    return reconciler.reconcileDirty();
  };
}
