import type supertest from 'supertest';
import { expect } from 'vitest';

/** What must never appear in a response: stack frames, file paths, driver and runtime error names. */
export const LEAK =
  /\bat [\w$.<>]+ \(|node_modules|\/work\/|\.[jt]s:\d+|Mongo\w*Error|MongooseError|E11000|Cast to \w+ failed|BSON|TypeError|ReferenceError|RangeError|SyntaxError|Cannot read prop|is not a function|undefined is not/;

/** Every response: below 500, security headers, one error shape with the request id, nothing internal. */
export function expectSafeResponse(res: supertest.Response, where: string): void {
  expect(res.status, where).toBeLessThan(500);
  expect(res.headers['x-content-type-options'], where).toBe('nosniff');
  expect(res.headers['content-security-policy'], where).toContain("default-src 'self'");
  expect(res.headers['x-powered-by'], where).toBeUndefined();
  expect(res.headers['x-request-id'], where).toBeTruthy();
  if (res.status >= 400) {
    expect(Object.keys(res.body ?? {}), where).toEqual(['error']);
    expect(typeof res.body.error.code, where).toBe('string');
    expect(res.body.error.requestId, where).toBe(res.headers['x-request-id']);
  }
  expect(res.text ?? '', where).not.toMatch(LEAK);
}
