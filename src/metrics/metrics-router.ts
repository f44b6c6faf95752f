import { Router } from 'express';
import type { AccessService } from '../access/access-service.js';
import { requirePermission, type ScopeOf } from '../http/auth.js';
import { validate, type RequestValidators, type ValidatedRequest } from '../http/validation.js';
import type { components, operations } from '../generated/api.js';
import { ALL } from './metric-definitions.js';
import type { MetricsService } from './metrics-service.js';

type MetricsQuery = NonNullable<operations['getAppMetrics']['parameters']['query']>;
type AppMetrics = components['schemas']['AppMetrics'];

/**
 * The app from the path; the channel from the query. Without a channel the caller asks for all channels,
 * which a key scoped to some channels may not see: ALL is in no key's channel list.
 */
const metricsScope: ScopeOf = (req) => ({
  appId: typeof req.params.appId === 'string' ? req.params.appId : undefined,
  channel: typeof req.query.channel === 'string' ? req.query.channel : ALL,
});

export function metricsRouter(deps: { metrics: MetricsService; access: AccessService; validators: RequestValidators }): Router {
  const { metrics, access, validators } = deps;
  const router = Router();

  router.get(
    '/v1/apps/:appId/metrics',
    requirePermission(access, 'metrics:read', metricsScope),
    validate(validators, 'getAppMetrics'),
    async (_req, res) => {
      const { params, query } = res.locals.input as ValidatedRequest;
      const result: AppMetrics = await metrics.query({ appId: String(params.appId), ...(query as MetricsQuery) });
      res.json(result);
    },
  );

  return router;
}
