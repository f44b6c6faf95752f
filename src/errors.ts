/**
 * Domain errors. They know nothing of HTTP: src/http/error-handler.ts maps each kind to a status.
 * `code` is stable and documented; `details` names the offending field where there is one.
 */
export type ErrorDetails = Record<string, unknown> | Array<Record<string, unknown>>;

export abstract class DomainError extends Error {
  abstract readonly kind: DomainErrorKind;
  constructor(
    readonly code: string,
    message: string,
    readonly details?: ErrorDetails,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

export type DomainErrorKind =
  | 'invalid'
  | 'unauthenticated'
  | 'forbidden'
  | 'not_found'
  | 'conflict'
  | 'unprocessable'
  | 'too_large'
  | 'rate_limited'
  | 'unavailable';

export class InvalidError extends DomainError {
  readonly kind = 'invalid' as const;
}
export class UnauthenticatedError extends DomainError {
  readonly kind = 'unauthenticated' as const;
  constructor(message = 'A valid API key is required (Authorization: Bearer <key>)') {
    super('unauthenticated', message);
  }
}
export class ForbiddenError extends DomainError {
  readonly kind = 'forbidden' as const;
  constructor(message = 'This key may not perform this operation', details?: ErrorDetails) {
    super('forbidden', message, details);
  }
}
export class NotFoundError extends DomainError {
  readonly kind = 'not_found' as const;
  constructor(what: string, details?: ErrorDetails) {
    super('not_found', `${what} not found`, details);
  }
}
export class ConflictError extends DomainError {
  readonly kind = 'conflict' as const;
}
export class UnprocessableError extends DomainError {
  readonly kind = 'unprocessable' as const;
}
export class TooLargeError extends DomainError {
  readonly kind = 'too_large' as const;
}
export class RateLimitedError extends DomainError {
  readonly kind = 'rate_limited' as const;
  constructor(
    message: string,
    readonly retryAfterSeconds: number,
  ) {
    super('rate_limited', message);
  }
}
/** A dependency (database, Redis) is down or overloaded; the caller should retry later. */
export class UnavailableError extends DomainError {
  readonly kind = 'unavailable' as const;
  constructor(
    message: string,
    readonly retryAfterSeconds = 5,
  ) {
    super('unavailable', message);
  }
}
