import type { RequestHandler } from 'express';
import type { AppRecord } from '../apps/app-store.js';
import type { AppService } from '../apps/app-service.js';
import { bearerToken } from './auth.js';

/**
 * Device endpoints: the app's ingest key (`Authorization: Bearer <ingest key>`) identifies the app. Runs
 * before validation, so an unknown key learns nothing about the body.
 */
export function requireIngestKey(apps: AppService): RequestHandler {
  return async (req, res, next) => {
    res.locals.ingestApp = await apps.authenticateIngestKey(bearerToken(req));
    next();
  };
}

export function ingestAppOf(res: { locals: Record<string, unknown> }): AppRecord {
  const app = res.locals.ingestApp as AppRecord | undefined;
  if (!app) throw new Error('ingestAppOf called on a route without requireIngestKey');
  return app;
}
