import express, { type Express } from 'express';
import helmet from 'helmet';
import { apiKeyRouter } from './access/api-key-router.js';
import { countAuthFailures } from './access/auth-failure-counter.js';
import { appRouter } from './apps/app-router.js';
import { auditRouter } from './audit/audit-router.js';
import type { Container } from './container.js';
import { errorHandler, notFoundHandler } from './http/error-handler.js';
import { requestContext } from './http/request-context.js';
import { metricsRouter } from './metrics/metrics-router.js';
import { ingestRouter } from './ingest/ingest-router.js';
import { opsRouter } from './ops/ops-router.js';
import { releaseRouter } from './releases/release-router.js';
import { rolloutRouter } from './rollouts/rollout-router.js';
import { updateCheckRouter } from './rollouts/update-check-router.js';
import { webhookRouter } from './webhooks/webhook-router.js';
import { privacyRouter } from './privacy/privacy-router.js';

/** Builds the HTTP app from a ready container. Does no I/O itself. */
export function createApp(container: Container): Express {
  const { config, logger } = container;
  const app = express();
  app.disable('x-powered-by');
  app.set('query parser', 'simple');
  // No ETags: answers are computed per request and no client sends conditional requests, while hashing
  // every response body costs CPU on ingest's hot path.
  app.set('etag', false);
  // The client address feeds the auth-failure throttle; trust X-Forwarded-For only from configured proxies.
  app.set('trust proxy', config.trustProxy);
  app.use(requestContext(logger, container.httpLatency));
  app.use(
    helmet({
      contentSecurityPolicy: {
        directives: { 'img-src': ["'self'", 'data:'], 'script-src': ["'self'"] },
      },
    }),
  );
  app.use(express.json({ limit: config.bodyLimitBytes, strict: true, type: ['application/json', 'application/*+json'] }));

  // Device telemetry first: the busiest routes should not be matched against every other router's paths.
  app.use(ingestRouter(container));
  app.use(opsRouter({ mongo: container.mongo, redis: container.redis, registry: container.metrics }));
  app.use(appRouter(container));
  app.use(metricsRouter({ metrics: container.deviceMetrics.service, access: container.access, validators: container.validators }));
  app.use(apiKeyRouter(container));
  app.use(auditRouter(container));
  app.use(releaseRouter({ ...container, releases: container.rollouts.releases }));
  app.use(rolloutRouter({ ...container.rollouts, access: container.access, validators: container.validators }));
  app.use(updateCheckRouter({ ...container.rollouts, apps: container.apps, validators: container.validators }));
  app.use(webhookRouter(container));
  app.use(
    privacyRouter({
      privacy: container.privacy.requests,
      privacyDocuments: container.privacy.documents,
      retention: container.privacy.retention,
      access: container.access,
      apps: container.apps,
      validators: container.validators,
      clock: container.clock,
    }),
  );

  app.use(notFoundHandler);
  app.use(countAuthFailures(container.authThrottle));
  app.use(errorHandler(logger));
  return app;
}
