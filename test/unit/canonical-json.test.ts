import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../../src/crypto/canonical-json.js';

describe('canonicalJson', () => {
  it('sorts keys at every level, integer-like keys included, whatever the insertion order', () => {
    const a = { b: 1, 10: 'ten', a: [{ d: 2, c: 3 }], 2: 'two' };
    const b = { 2: 'two', a: [{ c: 3, d: 2 }], 10: 'ten', b: 1 };
    // Code-unit order: "10" < "2" < "a" < "b" — not JavaScript's integer-keys-first order.
    expect(canonicalJson(a)).toBe('{"10":"ten","2":"two","a":[{"c":3,"d":2}],"b":1}');
    expect(canonicalJson(b)).toBe(canonicalJson(a));
  });

  it('writes dates as ISO strings, drops undefined members and refuses non-finite numbers', () => {
    expect(canonicalJson({ at: new Date('2026-01-02T03:04:05.000Z'), gone: undefined })).toBe('{"at":"2026-01-02T03:04:05.000Z"}');
    expect(() => canonicalJson({ x: Number.NaN })).toThrow(/non-finite/);
  });
});
