import type { AuditLog } from '../audit/audit-log.js';
import type { WebhookEvent } from '../webhooks/webhook-publisher.js';
import type { WebhookService } from '../webhooks/webhook-service.js';
import { bpToPercent } from './bucketing.js';
import type { RolloutAction, RolloutRecord } from './rollout-store.js';

const EVENT_OF: Partial<Record<RolloutAction['action'], WebhookEvent>> = {
  pause: 'rollout.paused',
  resume: 'rollout.resumed',
  advance: 'rollout.advanced',
  rollback: 'rollout.rolled_back',
  complete: 'rollout.completed',
  cancel: 'rollout.cancelled',
};

/** The ids-only summary of a rollout that webhooks and audit entries carry. */
export function rolloutSummary(rollout: RolloutRecord): Record<string, unknown> {
  return {
    rolloutId: rollout.id,
    appId: rollout.appId,
    channel: rollout.channel,
    version: rollout.version,
    baselineVersion: rollout.baselineVersion,
    status: rollout.status,
    percent: bpToPercent(rollout.percentBp),
  };
}

/** Every rollout change is audited and (where an event exists) published as a webhook. */
export class RolloutNotifier {
  constructor(
    private readonly audit: AuditLog,
    private readonly webhooks: WebhookService,
  ) {}

  /** App-wide guard defaults changed: audited with the resulting configuration hash. */
  async guardDefaultsChanged(appId: string, actor: string, configHash: string): Promise<void> {
    await this.audit.record({ actor, action: 'app.guard_defaults.set', target: `app:${appId}`, appId, details: { configHash } });
  }

  /** `key` makes the webhook idempotent when a retried guard job reports the same change again. */
  async changed(rollout: RolloutRecord, extra: Record<string, unknown> = {}, key?: string): Promise<void> {
    const { action, actor, reason, fromPercentBp, toPercentBp } = rollout.lastAction;
    const details = { ...rolloutSummary(rollout), reason, fromPercent: bpToPercent(fromPercentBp), toPercent: bpToPercent(toPercentBp), ...extra };
    await this.audit.record({ actor, action: `rollout.${action}`, target: `rollout:${rollout.id}`, appId: rollout.appId, details });
    const event = EVENT_OF[action];
    if (!event) return;
    const data = { ...details, actor };
    if (key) await this.webhooks.publishOnce(key, event, data, rollout.appId);
    else await this.webhooks.publish(event, data, rollout.appId);
  }
}
