import { Router } from 'express';
import type { AccessService } from '../access/access-service.js';
import { allowedApps } from '../access/permissions.js';
import type { components } from '../generated/api.js';
import { principalOf, requirePermission } from '../http/auth.js';
import { validate, type RequestValidators, type ValidatedRequest } from '../http/validation.js';
import type { AuditLog } from './audit-log.js';
import type { AuditEntry } from './audit-store.js';

type AuditEntryView = components['schemas']['AuditEntry'];

const DEFAULT_LIMIT = 100;

function entryView(entry: AuditEntry): AuditEntryView {
  return {
    seq: entry.seq,
    at: entry.at.toISOString(),
    actor: entry.actor,
    action: entry.action,
    target: entry.target,
    ...(entry.appId !== undefined ? { appId: entry.appId } : {}),
    outcome: entry.outcome,
    details: entry.details,
    prevHash: entry.prevHash,
    hash: entry.hash,
  };
}

export function auditRouter(deps: { access: AccessService; audit: AuditLog; validators: RequestValidators }): Router {
  const { access, audit, validators } = deps;
  const router = Router();
  // Audit reads are not about one app: authorization must not take an appId from the query.
  const read = requirePermission(access, 'audit:read', () => ({}));

  router.get('/v1/audit', read, validate(validators, 'listAuditEntries'), async (_req, res) => {
    const query = (res.locals.input as ValidatedRequest).query as {
      from?: string;
      to?: string;
      action?: string;
      actor?: string;
      after?: number;
      limit?: number;
    };
    const limit = query.limit ?? DEFAULT_LIMIT;
    const appIds = allowedApps(principalOf(res));
    const entries = await audit.find({
      limit,
      ...(query.from ? { from: new Date(query.from) } : {}),
      ...(query.to ? { to: new Date(query.to) } : {}),
      ...(query.action !== undefined ? { action: query.action } : {}),
      ...(query.actor !== undefined ? { actor: query.actor } : {}),
      ...(query.after !== undefined ? { after: query.after } : {}),
      ...(appIds ? { appIds } : {}),
    });
    const last = entries.at(-1);
    res.json({ entries: entries.map(entryView), ...(entries.length === limit && last ? { nextAfter: last.seq } : {}) });
  });

  router.get(
    '/v1/audit/verify',
    read,
    (_req, res, next) => {
      access.assertUnscoped(principalOf(res));
      next();
    },
    validate(validators, 'verifyAuditLog'),
    async (_req, res) => {
      res.json(await audit.verify());
    },
  );

  return router;
}
