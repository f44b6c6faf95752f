import { randomUUID } from 'node:crypto';
import type { RequestHandler } from 'express';
import type { Histogram } from 'prom-client';
import type { Logger } from '../logger.js';

const SAFE_REQUEST_ID = /^[A-Za-z0-9._-]{8,64}$/;

/**
 * Request id (incoming X-Request-Id when it looks safe, else a new UUID), one log line per request and
 * the latency histogram. The log line holds method, route template and status only: never bodies,
 * query strings or headers, which is where device ids and keys travel.
 */
export function requestContext(logger: Logger, latency: Histogram<'method' | 'route' | 'status'>): RequestHandler {
  return (req, res, next) => {
    const incoming = req.get('x-request-id');
    const requestId = incoming && SAFE_REQUEST_ID.test(incoming) ? incoming : randomUUID();
    res.locals.requestId = requestId;
    res.setHeader('X-Request-Id', requestId);
    const started = process.hrtime.bigint();
    res.on('finish', () => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const route = req.route ? `${req.baseUrl}${String(req.route.path)}` : 'unmatched';
      latency.observe({ method: req.method, route, status: String(res.statusCode) }, seconds);
      const level = res.statusCode >= 500 ? 'error' : 'debug';
      logger[level]({ requestId, method: req.method, route, status: res.statusCode, ms: Math.round(seconds * 1000) }, 'request');
    });
    next();
  };
}
