import { describe, expect, it } from 'vitest';
import { chiSquare1Survival, clopperPearsonLower, poissonRateUpper } from '../../../src/guard/confidence-bounds.js';
import {
  alwaysValidPValue,
  conditionalLogLikelihoodRatio,
  conditionalShare,
  logSumExp,
  poissonLogLikelihoodRatio,
} from '../../../src/guard/likelihood.js';
import { historicalBaselineRate } from '../../../src/guard/baseline-rate.js';

describe('conditional binomial likelihood', () => {
  // Bucket 1: U 2 failing of 10 exposed, C 3 of 90; ρ = 2 against ρ0 = 1.2.
  //   π(2)   = 2·10 / (2·10 + 90)   = 20/110 = 0.181818…
  //   π(1.2) = 1.2·10 / (1.2·10 + 90) = 12/102 = 0.117647…
  //   ℓ = 2·ln(0.181818/0.117647) + 3·ln((1 − 0.181818)/(1 − 0.117647))
  //     = 2·ln(2040/1320) + 3·ln(102/110) = 2·0.435318 + 3·(−0.075507) = 0.644113
  it('computes π_b and ℓ_b for small counts by hand', () => {
    expect(conditionalShare(2, 10, 90)).toBeCloseTo(20 / 110, 12);
    expect(conditionalShare(1.2, 10, 90)).toBeCloseTo(12 / 102, 12);
    const ell = conditionalLogLikelihoodRatio({ failing: 2, exposed: 10 }, { failing: 3, exposed: 90 }, 2, 1.2);
    expect(ell).toBeCloseTo(0.6441134849912555, 12);
  });

  it('is zero when a bucket has no failures or an empty arm (nothing to condition on)', () => {
    expect(conditionalLogLikelihoodRatio({ failing: 0, exposed: 10 }, { failing: 0, exposed: 90 }, 5, 1.2)).toBe(0);
    // U empty: every failure is necessarily on C whatever ρ is.
    expect(conditionalLogLikelihoodRatio({ failing: 0, exposed: 0 }, { failing: 4, exposed: 90 }, 5, 1.2)).toBe(0);
    // C empty: every failure is necessarily on U.
    expect(conditionalLogLikelihoodRatio({ failing: 3, exposed: 10 }, { failing: 0, exposed: 0 }, 5, 1.2)).toBeCloseTo(0, 12);
  });

  it('reads an outage shared by both arms as no evidence against U', () => {
    // Both arms fail twice as often in the outage bucket, in the same 1:9 split as exposures: the
    // conditional ℓ only sees the split, so the outage adds evidence FOR H0 (ℓ < 0), twice as much
    // as the quiet bucket because it holds twice the failures.
    const quiet = conditionalLogLikelihoodRatio({ failing: 1, exposed: 100 }, { failing: 9, exposed: 900 }, 2, 1.2);
    const outage = conditionalLogLikelihoodRatio({ failing: 2, exposed: 100 }, { failing: 18, exposed: 900 }, 2, 1.2);
    expect(quiet).toBeLessThan(0);
    expect(outage).toBeCloseTo(2 * quiet, 12);
  });
});

describe('mixture Λ over two buckets', () => {
  // Grid {2, 3}, uniform weights ½; ρ0 = 1.2. Bucket 1 as above; bucket 2: U 1 of 10, C 0 of 90.
  //   ℓ1(2) = 0.644113, ℓ1(3) = 2·ln(π(3)/π(1.2)) + 3·ln(102/120) = 2·0.590641 − 3·0.162519 = 1.019987
  //   ℓ2(2) = ln(2040/1320) = 0.435318, ℓ2(3) = ln((30/120)/(12/102)) = ln(2.125) = 0.753772
  //   Σℓ(2) = 1.079432, Σℓ(3) = 1.773759
  //   Λ = ½·e^1.079432 + ½·e^1.773759 = ½·2.943 + ½·5.893 = 4.417984
  it('adds per-bucket ℓ per grid point and mixes in log space', () => {
    const b1 = [2, 3].map((rho) => conditionalLogLikelihoodRatio({ failing: 2, exposed: 10 }, { failing: 3, exposed: 90 }, rho, 1.2));
    const b2 = [2, 3].map((rho) => conditionalLogLikelihoodRatio({ failing: 1, exposed: 10 }, { failing: 0, exposed: 90 }, rho, 1.2));
    const sums = b1.map((v, i) => v + (b2[i] ?? 0));
    expect(sums[0]).toBeCloseTo(1.079431556249101, 12);
    expect(sums[1]).toBeCloseTo(1.7737586186358156, 12);
    const logLambda = logSumExp(sums, [Math.log(0.5), Math.log(0.5)]);
    expect(Math.exp(logLambda)).toBeCloseTo(4.417983661840728, 10);
    // Always-valid p-value from the running maximum: 1/4.418 = 0.2263.
    expect(alwaysValidPValue(logLambda)).toBeCloseTo(1 / 4.417983661840728, 12);
    expect(alwaysValidPValue(-3)).toBe(1);
  });

  it('log-sum-exp survives values that would overflow exp()', () => {
    expect(logSumExp([1000, 1000], [Math.log(0.5), Math.log(0.5)])).toBeCloseTo(1000, 10);
    expect(logSumExp([-1000, -1000], [0, 0])).toBeCloseTo(-1000 + Math.log(2), 10);
  });
});

describe('one-sample Poisson likelihood', () => {
  // λ0 = 0.01, e_T = 100, ρ = 2 vs ρ0 = 1.2: ℓ = x·ln(2/1.2) − 0.8·0.01·100 = 0.510826·x − 0.8
  it('matches x·ln(ρ/ρ0) − (ρ−ρ0)·λ0·e', () => {
    expect(poissonLogLikelihoodRatio({ failing: 3, exposed: 100 }, 0.01, 2, 1.2)).toBeCloseTo(3 * 0.5108256237659907 - 0.8, 12);
    expect(poissonLogLikelihoodRatio({ failing: 0, exposed: 100 }, 0.01, 2, 1.2)).toBeCloseTo(-0.8, 12);
  });
});

describe('confidence bounds', () => {
  it('Clopper–Pearson 99% lower bound for 5 of 10 is qbeta(0.01; 5, 6) ≈ 0.150443', () => {
    expect(clopperPearsonLower(5, 10, 0.99)).toBeCloseTo(0.1504428, 6);
  });

  it('Clopper–Pearson for x = n is (1 − confidence)^(1/n): 5 of 5 → 0.01^(1/5) = 0.398107', () => {
    expect(clopperPearsonLower(5, 5, 0.99)).toBeCloseTo(Math.pow(0.01, 1 / 5), 10);
    expect(clopperPearsonLower(0, 10, 0.99)).toBe(0);
  });

  it('upper 95% Poisson bound of 20 events is ½·χ²(0.95; 42) = 29.062', () => {
    expect(poissonRateUpper(20, 1, 0.95)).toBeCloseTo(29.062, 3);
    expect(poissonRateUpper(20, 1000, 0.95)).toBeCloseTo(0.029062, 6);
  });

  it('χ²₁ survival at the textbook critical values', () => {
    expect(chiSquare1Survival(3.841458820694124)).toBeCloseTo(0.05, 10);
    expect(chiSquare1Survival(10.827566170662733)).toBeCloseTo(0.001, 8);
    expect(chiSquare1Survival(0)).toBe(1);
  });
});

describe('historical baseline λ0', () => {
  it('uses the upper 95% bound of C when it rests on ≥ 20 failures', () => {
    expect(historicalBaselineRate({ failing: 20, exposed: 4000 })).toBeCloseTo(29.062 / 4000, 6);
  });

  it('falls back to the pooled rate of the last three releases, then to nothing', () => {
    const previous = [{ failing: 10, exposed: 1000 }, { failing: 5, exposed: 1000 }, { failing: 15, exposed: 1000 }, { failing: 900, exposed: 1000 }];
    expect(historicalBaselineRate({ failing: 19, exposed: 4000 }, previous)).toBeCloseTo(30 / 3000, 12);
    expect(historicalBaselineRate({ failing: 3, exposed: 100 }, [])).toBeNull();
  });
});
