import { describe, expect, it } from 'vitest';
import { normaliseDetails } from '../../../src/audit/audit-details.js';

describe('normaliseDetails', () => {
  it('makes details plain JSON that BSON and FerretDB store unchanged', () => {
    const out = normaliseDetails({
      at: new Date('2026-01-01T00:00:00Z'),
      missing: undefined,
      nan: Number.NaN,
      big: 10n,
      $where: 'x',
      'a.b': 1,
      grid: [[1, 2], [3]],
    });
    expect(out).toEqual({ at: '2026-01-01T00:00:00.000Z', nan: null, big: '10', '\uFF04where': 'x', 'a\uFF0Eb': 1, grid: ['[1,2]', '[3]'] });
  });

  it('redacts values under names that carry device ids or secrets, at any depth', () => {
    const out = normaliseDetails({ deviceId: 'd-1', nested: { secret: 's', token: 't', ip: '10.0.0.1', pid: 'abc' } });
    expect(out).toEqual({ deviceId: '[redacted]', nested: { secret: '[redacted]', token: '[redacted]', ip: '[redacted]', pid: 'abc' } });
  });

  it('bounds depth and string length', () => {
    let deep: Record<string, unknown> = { leaf: 1 };
    for (let i = 0; i < 50; i++) deep = { deeper: deep };
    expect(JSON.stringify(normaliseDetails(deep))).toContain('[truncated]');
    expect(String(normaliseDetails({ s: 'x'.repeat(5000) }).s).length).toBeLessThan(2100);
  });
});
