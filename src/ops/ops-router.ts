import { Router, static as serveStatic } from 'express';
import type { Redis } from 'ioredis';
import type { Connection } from 'mongoose';
import type { Registry } from 'prom-client';
import swaggerUi from 'swagger-ui-dist';
import { loadOpenApiDocument } from '../http/openapi-document.js';

const PROBE_TIMEOUT_MS = 1500;

async function probe(check: () => Promise<unknown>): Promise<'up' | 'down'> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('timeout')), PROBE_TIMEOUT_MS);
  });
  try {
    await Promise.race([check(), timeout]);
    return 'up';
  } catch {
    return 'down';
  } finally {
    clearTimeout(timer);
  }
}

const DOCS_PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>otaguard API</title>
<link rel="stylesheet" href="/docs/assets/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script><script src="/docs/init.js"></script></body></html>`;

const DOCS_INIT = `window.ui = SwaggerUIBundle({ url: '/openapi.json', dom_id: '#swagger-ui', deepLinking: true });`;

export function opsRouter(deps: { mongo: Connection; redis: Redis; registry: Registry }): Router {
  const router = Router();
  const document = loadOpenApiDocument();

  router.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });

  router.get('/readyz', async (_req, res) => {
    const [mongodb, redis] = await Promise.all([
      probe(async () => {
        if (!deps.mongo.db) throw new Error('not connected');
        await deps.mongo.db.admin().ping();
      }),
      probe(() => deps.redis.ping()),
    ]);
    const ok = mongodb === 'up' && redis === 'up';
    res.status(ok ? 200 : 503).json({ status: ok ? 'ok' : 'unavailable', checks: { mongodb, redis } });
  });

  router.get('/metrics', async (_req, res) => {
    res.type(deps.registry.contentType).send(await deps.registry.metrics());
  });

  router.get('/openapi.json', (_req, res) => {
    res.json(document);
  });

  router.get('/docs', (_req, res) => {
    res.type('html').send(DOCS_PAGE);
  });
  router.get('/docs/init.js', (_req, res) => {
    res.type('js').send(DOCS_INIT);
  });
  router.use('/docs/assets', serveStatic(swaggerUi.getAbsoluteFSPath(), { index: false }));

  return router;
}
