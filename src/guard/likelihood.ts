// Per-bucket log-likelihood ratios of the spec's two test forms. Both are evaluated against a
// boundary ρ0 so that exp(Σℓ) is a test supermartingale for every ρ on the null side.

/** Counts of one arm in one bucket: failing devices among exposed devices. */
export interface ArmCounts {
  failing: number;
  exposed: number;
}

/**
 * π_b(ρ): the probability that a failing device of bucket b is on U, given the bucket's failure
 * total, when U's risk is ρ times C's. Conditioning on the total cancels what both arms share.
 */
export function conditionalShare(rho: number, exposedT: number, exposedC: number): number {
  const t = rho * exposedT;
  const denominator = t + exposedC;
  return denominator > 0 ? t / denominator : 0;
}

/**
 * ℓ_b(ρ) = x_T·ln(π_b(ρ)/π_b(ρ0)) + x_C·ln((1−π_b(ρ))/(1−π_b(ρ0))) for the conditional binomial
 * form. A term whose count is zero contributes nothing, which also covers the empty-arm buckets
 * where the logarithm's argument is 0/0.
 */
export function conditionalLogLikelihoodRatio(
  treatment: ArmCounts,
  control: ArmCounts,
  rho: number,
  rho0: number,
): number {
  // A failing device is an exposed device; clamp so a miscounted bucket cannot produce ln(x/0).
  const eT = Math.max(treatment.exposed, treatment.failing);
  const eC = Math.max(control.exposed, control.failing);
  let value = 0;
  if (treatment.failing > 0) {
    // ln(π(ρ)/π(ρ0)) = ln(ρ/ρ0) + ln((ρ0·eT + eC)/(ρ·eT + eC)): avoids the 0/0 of tiny shares.
    value +=
      treatment.failing * (Math.log(rho / rho0) + Math.log((rho0 * eT + eC) / (rho * eT + eC)));
  }
  if (control.failing > 0) {
    // 1 − π(ρ) = eC/(ρ·eT + eC), so the ratio is (ρ0·eT + eC)/(ρ·eT + eC).
    value += control.failing * Math.log((rho0 * eT + eC) / (rho * eT + eC));
  }
  return value;
}

/**
 * ℓ_b(ρ) = x_T·ln(ρ/ρ0) − (ρ−ρ0)·λ0·e_T for the one-sample Poisson form against a historical
 * baseline rate λ0 (failing devices per exposed device).
 */
export function poissonLogLikelihoodRatio(
  treatment: ArmCounts,
  baselineRate: number,
  rho: number,
  rho0: number,
): number {
  const failingTerm = treatment.failing > 0 ? treatment.failing * Math.log(rho / rho0) : 0;
  return failingTerm - (rho - rho0) * baselineRate * treatment.exposed;
}

/** ln Σ exp(values[i] + logWeights[i]) without overflow. */
export function logSumExp(values: readonly number[], logWeights: readonly number[]): number {
  let max = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < values.length; i += 1) {
    const v = (values[i] ?? 0) + (logWeights[i] ?? 0);
    if (v > max) max = v;
  }
  if (max === Number.NEGATIVE_INFINITY) return max;
  let sum = 0;
  for (let i = 0; i < values.length; i += 1) {
    sum += Math.exp((values[i] ?? 0) + (logWeights[i] ?? 0) - max);
  }
  return max + Math.log(sum);
}

/** Always-valid p-value from the running maximum of ln Λ: p = min(1, 1/max Λ). */
export function alwaysValidPValue(maxLogLambda: number): number {
  return Math.min(1, Math.exp(-maxLogLambda));
}
