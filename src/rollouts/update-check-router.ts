import { Router } from 'express';
import type { AppService } from '../apps/app-service.js';
import type { components } from '../generated/api.js';
import { ingestAppOf, requireIngestKey } from '../http/device-auth.js';
import { validate, type RequestValidators, type ValidatedRequest } from '../http/validation.js';
import type { UpdateCheckService } from './update-check-service.js';

export function updateCheckRouter(deps: { apps: AppService; updateCheck: UpdateCheckService; validators: RequestValidators }): Router {
  const { apps, updateCheck, validators } = deps;
  const router = Router();
  router.post('/v1/update-check', requireIngestKey(apps), validate(validators, 'checkForUpdate'), async (_req, res) => {
    const { body } = res.locals.input as ValidatedRequest;
    res.json(await updateCheck.check(ingestAppOf(res).appId, body as components['schemas']['UpdateCheckRequest']));
  });
  return router;
}
