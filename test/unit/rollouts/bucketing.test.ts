import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bucketOf, FULL_BP, inRollout, percentToBp } from '../../../src/rollouts/bucketing.js';

const pids = Array.from({ length: 20_000 }, (_, i) => `pid-${i}-${(i * 2654435761) % 4294967296}`);

describe('sticky bucketing', () => {
  it('is deterministic: the same rollout and pid always land in the same place', () => {
    expect(bucketOf('ro_a', 'pid-1')).toBe(bucketOf('ro_a', 'pid-1'));
    expect(bucketOf('ro_a', 'pid-1')).toBeGreaterThanOrEqual(0);
    expect(bucketOf('ro_a', 'pid-1')).toBeLessThan(FULL_BP);
  });

  it('is monotone in the percentage: raising it never drops a device that was in', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1 }), fc.string({ minLength: 1 }), fc.integer({ min: 0, max: FULL_BP }), fc.integer({ min: 0, max: FULL_BP }), (salt, pid, a, b) => {
        const [low, high] = a <= b ? [a, b] : [b, a];
        if (inRollout(salt, pid, low)) expect(inRollout(salt, pid, high)).toBe(true);
      }),
    );
  });

  it('offers roughly the configured share of devices', () => {
    for (const percent of [1, 5, 20, 50]) {
      const inside = pids.filter((pid) => inRollout('ro_uniform', pid, percentToBp(percent))).length;
      const expected = (pids.length * percent) / 100;
      // 5 standard deviations of a binomial count.
      const sd = Math.sqrt(pids.length * (percent / 100) * (1 - percent / 100));
      expect(Math.abs(inside - expected)).toBeLessThan(5 * sd);
    }
  });

  it('is roughly uniform over the 10 000 positions (chi-square over 20 cells)', () => {
    const cells = new Array<number>(20).fill(0);
    for (const pid of pids) cells[Math.floor(bucketOf('ro_chi', pid) / 500)]! += 1;
    const expected = pids.length / 20;
    const chi = cells.reduce((sum, n) => sum + (n - expected) ** 2 / expected, 0);
    // 19 degrees of freedom: P(χ² > 43.8) ≈ 0.001.
    expect(chi).toBeLessThan(43.8);
  });

  it('gives each rollout its own sample of devices', () => {
    const a = new Set(pids.filter((pid) => inRollout('ro_one', pid, 1000)));
    const b = pids.filter((pid) => inRollout('ro_two', pid, 1000));
    const overlap = b.filter((pid) => a.has(pid)).length;
    // Independent 10 % samples overlap in about 1 % of devices, not 10 %.
    expect(overlap / pids.length).toBeLessThan(0.02);
  });

  it('converts percentages to basis points with two decimals', () => {
    expect(percentToBp(0.07)).toBe(7);
    expect(percentToBp(12.5)).toBe(1250);
    expect(percentToBp(100)).toBe(FULL_BP);
  });
});
