/** Events a webhook can subscribe to. */
export const WEBHOOK_EVENTS = [
  'rollout.paused',
  'rollout.resumed',
  'rollout.advanced',
  'rollout.rolled_back',
  'rollout.completed',
  'rollout.cancelled',
  'rollout.warning',
  'incident.opened',
  'privacy.due_soon',
  'privacy.overdue',
] as const;
export type WebhookEvent = (typeof WEBHOOK_EVENTS)[number];

/**
 * Publishing stores one delivery per matching subscription and queues it; delivery, signing and retries
 * happen in the webhooks job. `data` carries ids and counts, never raw device ids or secrets.
 */
export interface WebhookPublisher {
  publish(event: WebhookEvent, data: Record<string, unknown>, appId?: string): Promise<void>;
}
