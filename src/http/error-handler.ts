import type { ErrorRequestHandler, RequestHandler, Response } from 'express';
import { DomainError, RateLimitedError, UnavailableError, type DomainErrorKind, type ErrorDetails } from '../errors.js';
import type { Logger } from '../logger.js';

const STATUS: Record<DomainErrorKind, number> = {
  invalid: 400,
  unauthenticated: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  too_large: 413,
  unprocessable: 422,
  rate_limited: 429,
  unavailable: 503,
};

export function sendError(res: Response, status: number, code: string, message: string, details?: ErrorDetails): void {
  const requestId = String(res.locals.requestId ?? '');
  res.status(status).json({ error: { code, message, ...(details ? { details } : {}), requestId } });
}

export const notFoundHandler: RequestHandler = (req, res) => {
  sendError(res, 404, 'route_not_found', `No route for ${req.method} ${req.path}`);
};

/** Errors raised by express.json() and other body parsers carry `type` and `status`. */
interface BodyParserError {
  type?: string;
  status?: number;
  limit?: number;
}

function isDatabaseOrRedisOutage(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const name = err.name;
  return (
    name === 'MongoServerSelectionError' ||
    name === 'MongoNetworkError' ||
    name === 'MongoNotConnectedError' ||
    name === 'MongoNetworkTimeoutError' ||
    name === 'MongooseServerSelectionError' ||
    /Connection is closed|Stream isn't writeable|enableOfflineQueue|ECONNREFUSED/.test(err.message)
  );
}

/** The one place errors become HTTP. Bad input is always a 4xx; stacks never leave the process. */
export function errorHandler(logger: Logger): ErrorRequestHandler {
  return (err: unknown, req, res, _next) => {
    if (res.headersSent) {
      res.end();
      return;
    }
    if (err instanceof DomainError) {
      if (err instanceof RateLimitedError || err instanceof UnavailableError) {
        res.setHeader('Retry-After', String(err.retryAfterSeconds));
      }
      sendError(res, STATUS[err.kind], err.code, err.message, err.details);
      return;
    }
    const parserError = err as BodyParserError;
    switch (parserError.type) {
      case 'entity.parse.failed':
        sendError(res, 400, 'malformed_json', 'The body is not valid JSON');
        return;
      case 'entity.too.large':
        sendError(res, 413, 'payload_too_large', `The body exceeds the limit of ${parserError.limit ?? '?'} bytes`);
        return;
      case 'encoding.unsupported':
      case 'charset.unsupported':
        sendError(res, 415, 'unsupported_encoding', 'Send JSON encoded as UTF-8');
        return;
      case 'request.aborted':
        sendError(res, 400, 'request_aborted', 'The request was aborted');
        return;
    }
    if (typeof parserError.status === 'number' && parserError.status >= 400 && parserError.status < 500) {
      sendError(res, parserError.status, 'bad_request', 'The request could not be read');
      return;
    }
    if (isDatabaseOrRedisOutage(err)) {
      logger.warn({ requestId: res.locals.requestId, err: { name: (err as Error).name } }, 'dependency unavailable');
      res.setHeader('Retry-After', '5');
      sendError(res, 503, 'unavailable', 'A dependency is unavailable; retry later');
      return;
    }
    logger.error({ requestId: res.locals.requestId, route: req.route?.path, err }, 'unhandled error');
    sendError(res, 500, 'internal', 'Internal error');
  };
}
