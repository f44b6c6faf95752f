import { Router, type Response } from 'express';
import type { AccessService } from '../access/access-service.js';
import type { AuditLog } from '../audit/audit-log.js';
import type { components } from '../generated/api.js';
import { principalOf, requirePermission } from '../http/auth.js';
import { validate, type RequestValidators, type ValidatedRequest } from '../http/validation.js';
import type { WebhookService } from './webhook-service.js';
import type { WebhookDelivery, WebhookSubscription } from './webhook-store.js';

type Schemas = components['schemas'];

export function webhookView(s: WebhookSubscription): Schemas['Webhook'] {
  return { id: s.id, url: s.url, events: s.events, appId: s.appId, description: s.description, createdAt: s.createdAt.toISOString(), disabled: s.disabledAt !== null };
}

function deliveryView(d: WebhookDelivery): Schemas['WebhookDelivery'] {
  return {
    id: d.id,
    event: d.event,
    status: d.status,
    attempts: d.attempts.map((a) => ({ at: new Date(a.at).toISOString(), statusCode: a.statusCode, error: a.error, durationMs: a.durationMs })),
    createdAt: d.createdAt.toISOString(),
    deliveredAt: d.deliveredAt ? d.deliveredAt.toISOString() : null,
  };
}

const input = (res: Response): ValidatedRequest => res.locals.input as ValidatedRequest;

export function webhookRouter(deps: { webhooks: WebhookService; access: AccessService; audit: AuditLog; validators: RequestValidators }): Router {
  const { webhooks, access, audit, validators } = deps;
  const router = Router();

  router.post('/v1/webhooks', requirePermission(access, 'webhooks:manage'), validate(validators, 'createWebhook'), async (_req, res) => {
    const principal = principalOf(res);
    const { subscription, secret } = await webhooks.create(input(res).body as Schemas['CreateWebhookRequest'], principal.keyId, principal.appIds);
    await audit.record({
      actor: principal.keyId,
      action: 'webhook.create',
      target: `webhook:${subscription.id}`,
      ...(subscription.appId ? { appId: subscription.appId } : {}),
      details: { events: subscription.events },
    });
    res.status(201).json({ ...webhookView(subscription), secret });
  });

  router.get('/v1/webhooks', requirePermission(access, 'webhooks:manage'), validate(validators, 'listWebhooks'), async (_req, res) => {
    res.json({ webhooks: (await webhooks.list(principalOf(res).appIds)).map(webhookView) });
  });

  router.delete('/v1/webhooks/:id', requirePermission(access, 'webhooks:manage'), validate(validators, 'deleteWebhook'), async (_req, res) => {
    const principal = principalOf(res);
    const id = String(input(res).params.id);
    await webhooks.disable(id, principal.appIds);
    await audit.record({ actor: principal.keyId, action: 'webhook.delete', target: `webhook:${id}` });
    res.status(204).end();
  });

  router.get('/v1/webhooks/:id/deliveries', requirePermission(access, 'webhooks:manage'), validate(validators, 'listWebhookDeliveries'), async (_req, res) => {
    const { params, query } = input(res);
    const list = await webhooks.deliveries(String(params.id), principalOf(res).appIds, (query.limit as number | undefined) ?? 100);
    res.json({ deliveries: list.map(deliveryView) });
  });

  return router;
}
