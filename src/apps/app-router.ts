import { Router } from 'express';
import type { AccessService } from '../access/access-service.js';
import type { AuditLog } from '../audit/audit-log.js';
import { principalOf, requirePermission } from '../http/auth.js';
import type { RequestValidators, ValidatedRequest } from '../http/validation.js';
import { validate } from '../http/validation.js';
import type { AppRecord } from './app-store.js';
import type { AppService } from './app-service.js';
import type { components } from '../generated/api.js';

type AppView = components['schemas']['App'];

export function appView(app: AppRecord): AppView {
  return { appId: app.appId, name: app.name, createdAt: app.createdAt.toISOString() };
}

export function appRouter(deps: {
  apps: AppService;
  access: AccessService;
  audit: AuditLog;
  validators: RequestValidators;
}): Router {
  const { apps, access, audit, validators } = deps;
  const router = Router();

  router.post('/v1/apps', requirePermission(access, 'apps:write'), validate(validators, 'createApp'), async (_req, res) => {
    const { body } = res.locals.input as ValidatedRequest;
    const { app, ingestKey } = await apps.create(body as components['schemas']['CreateAppRequest']);
    await audit.record({ actor: principalOf(res).keyId, action: 'app.create', target: `app:${app.appId}` });
    res.status(201).json({ ...appView(app), ingestKey });
  });

  router.get('/v1/apps', requirePermission(access, 'apps:read'), validate(validators, 'listApps'), async (_req, res) => {
    const list = await apps.list(principalOf(res).appIds);
    res.json({ apps: list.map(appView) });
  });

  return router;
}
