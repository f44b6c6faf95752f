import { Router } from 'express';
import type { AccessService } from '../access/access-service.js';
import type { AuditLog } from '../audit/audit-log.js';
import type { components } from '../generated/api.js';
import { principalOf, requirePermission } from '../http/auth.js';
import { validate, type RequestValidators, type ValidatedRequest } from '../http/validation.js';
import { releaseView } from '../rollouts/rollout-views.js';
import type { ReleaseService } from './release-service.js';

type Schemas = components['schemas'];

export function releaseRouter(deps: { releases: ReleaseService; access: AccessService; audit: AuditLog; validators: RequestValidators }): Router {
  const { releases, access, audit, validators } = deps;
  const router = Router();
  const input = (res: { locals: Record<string, unknown> }): ValidatedRequest => res.locals.input as ValidatedRequest;

  router.put('/v1/apps/:appId/signing-key', requirePermission(access, 'apps:write'), validate(validators, 'setSigningKey'), async (_req, res) => {
    const { params, body } = input(res);
    const appId = String(params.appId);
    const publicKey = await releases.setSigningKey(appId, (body as Schemas['SetSigningKeyRequest']).publicKey);
    await audit.record({ actor: principalOf(res).keyId, action: 'app.signing_key', target: `app:${appId}`, appId, details: { set: publicKey !== null } });
    res.json({ appId, publicKey });
  });

  router.post('/v1/apps/:appId/releases', requirePermission(access, 'releases:write'), validate(validators, 'createRelease'), async (_req, res) => {
    const { params, body } = input(res);
    const appId = String(params.appId);
    const actor = principalOf(res).keyId;
    const release = await releases.create(appId, body as Schemas['CreateReleaseRequest'], actor);
    await audit.record({ actor, action: 'release.create', target: `release:${release.id}`, appId, details: { version: release.version, signed: Boolean(release.signature) } });
    res.status(201).json(releaseView(release));
  });

  router.get('/v1/apps/:appId/releases', requirePermission(access, 'releases:read'), validate(validators, 'listReleases'), async (_req, res) => {
    const { params, query } = input(res);
    const list = await releases.list(String(params.appId), (query.limit as number | undefined) ?? 100);
    res.json({ releases: list.map(releaseView) });
  });

  router.get('/v1/apps/:appId/releases/:version', requirePermission(access, 'releases:read'), validate(validators, 'getRelease'), async (_req, res) => {
    const { params } = input(res);
    res.json(releaseView(await releases.get(String(params.appId), String(params.version))));
  });

  return router;
}
