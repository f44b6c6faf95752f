import { poissonRateUpper } from './confidence-bounds.js';

export interface FailureHistory {
  failing: number;
  exposed: number;
}

export interface BaselineRateOptions {
  minFailures?: number;
  confidence?: number;
  previousReleasesPooled?: number;
}

/**
 * λ0 for the one-sample test: the upper 95% bound of C's own historical rate when it rests on
 * ≥ 20 failures; else the pooled rate of the last three releases; else null (nothing to compare
 * with — the one-sample test is then skipped and only the catastrophic guard can act).
 * The upper bound, not the estimate, so an unlucky-low history cannot make a healthy U look worse.
 */
export function historicalBaselineRate(
  baseline: FailureHistory,
  previousReleases: readonly FailureHistory[] = [],
  options: BaselineRateOptions = {},
): number | null {
  const minFailures = options.minFailures ?? 20;
  const confidence = options.confidence ?? 0.95;
  if (baseline.failing >= minFailures && baseline.exposed > 0) {
    return poissonRateUpper(baseline.failing, baseline.exposed, confidence);
  }
  const pooled = previousReleases.slice(0, options.previousReleasesPooled ?? 3);
  const failing = pooled.reduce((sum, r) => sum + r.failing, 0);
  const exposed = pooled.reduce((sum, r) => sum + r.exposed, 0);
  return exposed > 0 && failing > 0 ? failing / exposed : null;
}
