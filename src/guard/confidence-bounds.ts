import { betaQuantile, gammaQuantile, regularizedGammaQ } from './special-functions.js';

/**
 * One-sided lower Clopper–Pearson bound for a binomial proportion: the `confidence` lower limit of
 * p after `failures` of `trials`. Exact (never below nominal coverage), which is what a guard that
 * acts without a baseline needs.
 */
export function clopperPearsonLower(failures: number, trials: number, confidence: number): number {
  if (failures <= 0 || trials <= 0) return 0;
  const x = Math.min(failures, trials);
  return betaQuantile(1 - confidence, x, trials - x + 1);
}

/** One-sided upper `confidence` bound of a Poisson rate per exposure, from `events` in `exposure`. */
export function poissonRateUpper(events: number, exposure: number, confidence: number): number {
  if (exposure <= 0) return Number.POSITIVE_INFINITY;
  return gammaQuantile(confidence, events + 1) / exposure;
}

/** P(χ²₁ > statistic). */
export function chiSquare1Survival(statistic: number): number {
  if (statistic <= 0) return 1;
  return regularizedGammaQ(0.5, statistic / 2);
}
