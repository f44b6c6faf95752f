import { randomUUID } from 'node:crypto';
import type { Clock } from '../clock.js';
import { newSecret, sha256Hex } from '../crypto/keys.js';
import { ForbiddenError, NotFoundError, UnprocessableError } from '../errors.js';
import type { Queues } from '../queues.js';
import type { WebhookEvent, WebhookPublisher } from './webhook-publisher.js';
import { DELIVERY_HEADER, EVENT_HEADER, SIGNATURE_HEADER, signWebhook, TIMESTAMP_HEADER, type SecretBox } from './webhook-signature.js';
import type { DeliveryAttempt, WebhookDelivery, WebhookStore, WebhookSubscription } from './webhook-store.js';

/** Exponential backoff from 1 s over 12 attempts: retries span about an hour of receiver downtime. */
export const WEBHOOK_JOB_OPTIONS = { attempts: 12, backoff: { type: 'exponential', delay: 1000 } } as const;
const TIMEOUT_MS = 10_000;

export interface CreateSubscriptionInput {
  url: string;
  events: WebhookEvent[];
  appId?: string;
  description?: string;
}

export type DeliveryOutcome = 'delivered' | 'retry' | 'failed' | 'skipped';

/** Thrown to make BullMQ retry a delivery with backoff. Carries no identifiers. */
export class DeliveryFailedError extends Error {}

export class WebhookService implements WebhookPublisher {
  constructor(
    private readonly store: WebhookStore,
    private readonly secrets: SecretBox,
    private readonly queues: Queues,
    private readonly clock: Clock,
    private readonly fetchImpl: typeof fetch = fetch,
  ) {}

  /** `appIds` are the caller's app scope (empty = every app); a scoped key must name one of its apps. */
  async create(input: CreateSubscriptionInput, actor: string, appIds: readonly string[]): Promise<{ subscription: WebhookSubscription; secret: string }> {
    if (appIds.length > 0 && (!input.appId || !appIds.includes(input.appId))) {
      throw new ForbiddenError('A key scoped to apps may only subscribe to one of its apps (set appId)');
    }
    const url = new URL(input.url);
    if (url.protocol !== 'https:' && url.protocol !== 'http:') {
      throw new UnprocessableError('webhook_url_invalid', 'url must be http or https', { field: 'body.url' });
    }
    const secret = newSecret('whsec');
    const subscription: WebhookSubscription = {
      id: `wh_${randomUUID()}`,
      url: input.url,
      events: [...new Set(input.events)],
      appId: input.appId ?? null,
      description: input.description ?? null,
      sealedSecret: this.secrets.seal(secret),
      createdBy: actor,
      createdAt: this.clock.now(),
      disabledAt: null,
    };
    await this.store.insertSubscription(subscription);
    return { subscription, secret };
  }

  async list(appIds: readonly string[]): Promise<WebhookSubscription[]> {
    return this.store.listSubscriptions(appIds);
  }

  async disable(id: string, appIds: readonly string[]): Promise<void> {
    await this.visible(id, appIds);
    await this.store.disableSubscription(id, this.clock.now());
  }

  async deliveries(id: string, appIds: readonly string[], limit: number): Promise<WebhookDelivery[]> {
    await this.visible(id, appIds);
    return this.store.listDeliveries(id, limit);
  }

  publish(event: WebhookEvent, data: Record<string, unknown>, appId?: string): Promise<void> {
    return this.publishOnce(randomUUID(), event, data, appId);
  }

  /**
   * Like publish, but idempotent per `key`: a retried job that publishes again reuses the same
   * deliveries (and re-queues them, which BullMQ dedupes by job id).
   */
  async publishOnce(key: string, event: WebhookEvent, data: Record<string, unknown>, appId?: string): Promise<void> {
    const subscriptions = await this.store.matching(event, appId);
    if (subscriptions.length === 0) return;
    const eventId = `evt_${digest(`event:${key}:${event}`)}`;
    const now = this.clock.now();
    const body = JSON.stringify({ id: eventId, type: event, createdAt: now.toISOString(), appId: appId ?? null, data });
    for (const subscription of subscriptions) {
      const id = `whd_${digest(`${eventId}:${subscription.id}`)}`;
      await this.store.insertDelivery({
        id,
        subscriptionId: subscription.id,
        event,
        appId: appId ?? null,
        body,
        status: 'pending',
        attempts: [],
        createdAt: now,
        deliveredAt: null,
      });
      await this.queues.add('webhooks', { deliveryId: id }, { jobId: id, ...WEBHOOK_JOB_OPTIONS });
    }
  }

  /**
   * One attempt. Throws DeliveryFailedError to be retried unless `finalAttempt`, when the delivery
   * is marked failed instead. Redirects are not followed: the subscriber must give the final URL.
   */
  async deliver(deliveryId: string, finalAttempt: boolean): Promise<DeliveryOutcome> {
    const delivery = await this.store.getDelivery(deliveryId);
    if (!delivery || delivery.status !== 'pending') return 'skipped';
    const subscription = await this.store.getSubscription(delivery.subscriptionId);
    if (!subscription || subscription.disabledAt) {
      await this.store.recordAttempt(deliveryId, { at: this.clock.now(), statusCode: null, error: 'subscription disabled', durationMs: 0 }, 'failed');
      return 'failed';
    }
    const timestamp = Math.floor(this.clock.now().getTime() / 1000);
    const started = Date.now();
    const attempt: DeliveryAttempt = { at: this.clock.now(), statusCode: null, error: null, durationMs: 0 };
    try {
      const response = await this.fetchImpl(subscription.url, {
        method: 'POST',
        redirect: 'manual',
        signal: AbortSignal.timeout(TIMEOUT_MS),
        headers: {
          'content-type': 'application/json',
          'user-agent': 'otaguard-webhooks/1',
          [SIGNATURE_HEADER]: signWebhook(this.secrets.open(subscription.sealedSecret), timestamp, delivery.body),
          [TIMESTAMP_HEADER]: String(timestamp),
          [EVENT_HEADER]: delivery.event,
          [DELIVERY_HEADER]: delivery.id,
        },
        body: delivery.body,
      });
      await response.body?.cancel().catch(() => undefined);
      attempt.statusCode = response.status;
      if (response.status < 200 || response.status >= 300) attempt.error = `HTTP ${response.status}`;
    } catch (err) {
      attempt.error = err instanceof Error ? err.name : 'error';
    }
    attempt.durationMs = Date.now() - started;
    const ok = attempt.error === null;
    const status = ok ? 'delivered' : finalAttempt ? 'failed' : 'pending';
    await this.store.recordAttempt(deliveryId, attempt, status);
    if (ok) return 'delivered';
    if (finalAttempt) return 'failed';
    throw new DeliveryFailedError(`webhook delivery attempt failed: ${attempt.error ?? 'unknown'}`);
  }

  private async visible(id: string, appIds: readonly string[]): Promise<WebhookSubscription> {
    const subscription = await this.store.getSubscription(id);
    if (!subscription || (appIds.length > 0 && (subscription.appId === null || !appIds.includes(subscription.appId)))) {
      throw new NotFoundError('Webhook', { id });
    }
    return subscription;
  }
}

function digest(text: string): string {
  return sha256Hex(text).slice(0, 32);
}
