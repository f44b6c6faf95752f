import type { Request, RequestHandler } from 'express';
import type { AccessService, Principal, Scope } from '../access/access-service.js';
import type { Permission } from '../access/permissions.js';

export function bearerToken(req: Request): string | undefined {
  const header = req.get('authorization');
  if (!header) return undefined;
  const match = /^Bearer ([A-Za-z0-9._~+/=-]{1,256})$/.exec(header);
  return match?.[1];
}

/** Where an operation's app and channel scope come from; read before validation, so only plain strings count. */
export type ScopeOf = (req: Request) => Scope;

/**
 * A scope value that is present but not a string (`{"$gt": ""}`, an array…) cannot be in any key's
 * scope: it becomes a value no scope lists, so a scoped key gets 403 before validation sees the body.
 */
const UNMATCHABLE = '\u0000not-a-string';
function stringOrUndefined(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  return typeof value === 'string' ? value : UNMATCHABLE;
}

/** Default scope: `:appId` in the path, else `appId` in the body; `channel` from the path, body or query. */
export const defaultScope: ScopeOf = (req) => {
  const body = (req.body ?? {}) as Record<string, unknown>;
  const query = (req.query ?? {}) as Record<string, unknown>;
  return {
    appId: stringOrUndefined(req.params.appId) ?? stringOrUndefined(body.appId),
    channel: stringOrUndefined(req.params.channel) ?? stringOrUndefined(body.channel) ?? stringOrUndefined(query.channel),
  };
};

/**
 * Who is knocking, for the authentication-failure throttle. `req.ip` honours express's `trust proxy`
 * setting (TRUST_PROXY); the address is only ever stored HMAC-ed (src/access/auth-throttle.ts).
 */
export function sourceOf(req: Request): string {
  return req.ip ?? req.socket.remoteAddress ?? 'unknown';
}

export function principalOf(res: { locals: Record<string, unknown> }): Principal {
  const principal = res.locals.principal as Principal | undefined;
  if (!principal) throw new Error('principalOf called on an unauthenticated route');
  return principal;
}

/**
 * Authentication then authorization, before validation and before any lookup, so a caller without
 * permission learns nothing about what exists.
 */
export function requirePermission(access: AccessService, permission: Permission, scopeOf: ScopeOf = defaultScope): RequestHandler {
  return async (req, res, next) => {
    const principal = await access.authenticate(bearerToken(req), sourceOf(req));
    access.authorize(principal, permission, scopeOf(req));
    res.locals.principal = principal;
    next();
  };
}
