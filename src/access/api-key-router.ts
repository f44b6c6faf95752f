import { Router } from 'express';
import type { AuditLog } from '../audit/audit-log.js';
import type { components } from '../generated/api.js';
import { principalOf, requirePermission } from '../http/auth.js';
import { validate, type RequestValidators, type ValidatedRequest } from '../http/validation.js';
import type { AccessService } from './access-service.js';
import type { ApiKeyRecord } from './api-key-store.js';

type ApiKeyView = components['schemas']['ApiKey'];
type CreateApiKeyRequest = components['schemas']['CreateApiKeyRequest'];

/** Never the hash: only what a person managing keys needs to see. */
function keyView(access: AccessService, key: ApiKeyRecord): ApiKeyView {
  return {
    id: key.id,
    name: key.name,
    role: key.role,
    appIds: key.appIds,
    channels: key.channels,
    status: access.statusOf(key),
    createdAt: key.createdAt.toISOString(),
    ...(key.expiresAt ? { expiresAt: key.expiresAt.toISOString() } : {}),
    ...(key.revokedAt ? { revokedAt: key.revokedAt.toISOString() } : {}),
    ...(key.lastUsedAt ? { lastUsedAt: key.lastUsedAt.toISOString() } : {}),
  };
}

/** The scope of a new or revoked key, for audit entries; never the secret. */
function keyDetails(key: ApiKeyRecord): Record<string, unknown> {
  return { keyId: key.id, name: key.name, role: key.role, appIds: key.appIds, channels: key.channels };
}

export function apiKeyRouter(deps: { access: AccessService; audit: AuditLog; validators: RequestValidators }): Router {
  const { access, audit, validators } = deps;
  const router = Router();
  const manage = requirePermission(access, 'api-keys:manage', () => ({}));

  router.post('/v1/api-keys', manage, validate(validators, 'createApiKey'), async (_req, res) => {
    const body = (res.locals.input as ValidatedRequest).body as CreateApiKeyRequest;
    const actor = principalOf(res);
    const { record, secret } = await access.createKey(actor, {
      name: body.name,
      role: body.role,
      ...(body.appIds ? { appIds: body.appIds } : {}),
      ...(body.channels ? { channels: body.channels } : {}),
      ...(body.expiresAt ? { expiresAt: new Date(body.expiresAt) } : {}),
    });
    await audit.record({ actor: actor.keyId, action: 'api_key.create', target: `api_key:${record.id}`, details: keyDetails(record) });
    res.status(201).json({ ...keyView(access, record), key: secret });
  });

  router.get('/v1/api-keys', manage, validate(validators, 'listApiKeys'), async (_req, res) => {
    const keys = await access.list(principalOf(res));
    res.json({ keys: keys.map((key) => keyView(access, key)) });
  });

  router.delete('/v1/api-keys/:id', manage, validate(validators, 'revokeApiKey'), async (_req, res) => {
    const { params } = res.locals.input as ValidatedRequest;
    const actor = principalOf(res);
    const id = String(params.id);
    const revoked = await access.revoke(actor, id);
    if (revoked) await audit.record({ actor: actor.keyId, action: 'api_key.revoke', target: `api_key:${id}`, details: { keyId: id } });
    res.status(204).end();
  });

  return router;
}
