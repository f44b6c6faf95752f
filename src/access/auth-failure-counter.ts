import type { ErrorRequestHandler } from 'express';
import { bearerToken, sourceOf } from '../http/auth.js';
import { RateLimitedError, UnauthenticatedError } from '../errors.js';
import type { AuthThrottle } from './auth-throttle.js';

/**
 * Error middleware, mounted just before the error handler: every 401 for a request that presented a
 * bearer token (API key or ingest key) counts as one failure of its source; the failure that crosses the
 * limit, and every one after it, becomes 429 with Retry-After. A missing header is a client mistake, not
 * a guess, and is not counted.
 *
 * API keys are also checked against the block before the lookup (AccessService.authenticate), so a
 * blocked source cannot tell a right key from a wrong one. Ingest keys are not: they ship inside app
 * binaries and are public by design, so there is nothing to guess, and a valid one keeps working from a
 * blocked source (devices behind one NAT share an address) without a Redis read on the ingest hot path.
 */
export function countAuthFailures(throttle: AuthThrottle): ErrorRequestHandler {
  return (err: unknown, req, _res, next) => {
    if (!(err instanceof UnauthenticatedError) || bearerToken(req) === undefined) {
      next(err);
      return;
    }
    throttle.recordFailure(sourceOf(req)).then(
      (wait) => next(wait > 0 ? new RateLimitedError('Too many failed authentications from this source', wait) : err),
      () => next(err),
    );
  };
}
