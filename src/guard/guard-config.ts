import { canonicalJson } from '../crypto/canonical-json.js';
import { sha256Hex } from '../crypto/keys.js';

export const GUARD_METRICS = ['install_failure', 'launch_failure', 'crash_rate'] as const;
export type GuardMetric = (typeof GUARD_METRICS)[number];

/** What the rollout does when a metric fails: roll devices back, or only stop offering U. */
export type FailurePolicy = 'rollback' | 'pause';

/**
 * `concurrent`: the conditional binomial test against devices on C in the same bucket.
 * `historical`: the one-sample Poisson test against C's historical rate λ0.
 */
export type ControlKind = 'concurrent' | 'historical';

export interface MetricGuardConfig {
  enabled: boolean;
  /** Tolerated relative increase: H0 is ρ ≤ rho0. */
  rho0: number;
  control: ControlKind;
  policy: FailurePolicy;
  /** Whether the no-baseline catastrophic guard applies (launch failures in the spec). */
  catastrophic: boolean;
}

export interface GuardConfig {
  bucketMs: number;
  /** Platforms tested as segments; the pooled segment is added when there is more than one. */
  platforms: string[];
  /** Family-wise false-FAIL rate per metric, split evenly across segments (Bonferroni). */
  alphaFail: number;
  /** Notify-only tier, split across segments like alphaFail. */
  alphaWarn: number;
  grid: number[];
  minFailingDevices: number;
  metrics: Record<GuardMetric, MetricGuardConfig>;
  cusum: { rho1: number; threshold: number };
  catastrophic: { minFailingDevices: number; confidence: number; proportion: number };
  pass: { rho: number; alpha: number; grid: number[]; minBakeMs: number };
  sampleRatio: { pValue: number };
  dataHealth: { maxIngestionLagMs: number; silentExpectedDevices: number; rateHalfLifeBuckets: number };
  inconclusiveMs: number;
}

type DeepPartial<T> = T extends readonly unknown[]
  ? T
  : T extends object
    ? { [K in keyof T]?: DeepPartial<T[K]> }
    : T;
export type GuardConfigOverrides = DeepPartial<GuardConfig>;

const MINUTE = 60_000;

export const DEFAULT_GUARD_CONFIG: GuardConfig = Object.freeze({
  bucketMs: MINUTE,
  platforms: ['android', 'ios'],
  alphaFail: 0.01,
  alphaWarn: 0.05,
  grid: [1.5, 2, 3, 5, 10, 30],
  minFailingDevices: 5,
  metrics: {
    install_failure: { enabled: true, rho0: 1.5, control: 'historical', policy: 'pause', catastrophic: false },
    launch_failure: { enabled: true, rho0: 1.2, control: 'historical', policy: 'rollback', catastrophic: true },
    crash_rate: { enabled: true, rho0: 1.2, control: 'concurrent', policy: 'rollback', catastrophic: false },
  },
  cusum: { rho1: 2, threshold: 8 },
  catastrophic: { minFailingDevices: 5, confidence: 0.99, proportion: 0.2 },
  // The spec fixes H0 (ρ ≥ 1.5) and α; the alternatives' grid is ours: "no worse", "as good",
  // and two improvements, so a healthy release passes whether or not it fixed something.
  pass: { rho: 1.5, alpha: 0.05, grid: [1.2, 1, 0.8, 0.5], minBakeMs: 60 * MINUTE },
  sampleRatio: { pValue: 0.001 },
  // Half-life of the U event-rate estimate used to say how many events a silent stretch "expected".
  dataHealth: { maxIngestionLagMs: 5 * MINUTE, silentExpectedDevices: 20, rateHalfLifeBuckets: 60 },
  inconclusiveMs: 24 * 60 * MINUTE,
}) as GuardConfig;

export class InvalidGuardConfigError extends Error {
  readonly code = 'invalid_guard_config';
  constructor(message: string) {
    super(message);
    this.name = 'InvalidGuardConfigError';
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function deepMerge(base: unknown, override: unknown): unknown {
  if (override === undefined) return structuredClone(base);
  if (!isPlainObject(base) || !isPlainObject(override)) return structuredClone(override);
  const merged: Record<string, unknown> = {};
  for (const key of new Set([...Object.keys(base), ...Object.keys(override)])) {
    merged[key] = deepMerge(base[key], override[key]);
  }
  return merged;
}

/**
 * The effective configuration of one rollout: spec defaults ← app defaults ← rollout overrides.
 * Arrays (grid, platforms) are replaced, never concatenated.
 */
export function resolveGuardConfig(
  appDefaults: GuardConfigOverrides = {},
  rolloutOverrides: GuardConfigOverrides = {},
): GuardConfig {
  const merged = deepMerge(deepMerge(DEFAULT_GUARD_CONFIG, appDefaults), rolloutOverrides);
  return validateGuardConfig(merged as GuardConfig);
}

function check(condition: boolean, message: string): void {
  if (!condition) throw new InvalidGuardConfigError(message);
}

const isProbability = (x: unknown): boolean => typeof x === 'number' && x > 0 && x < 1;
const isPositive = (x: unknown): boolean => typeof x === 'number' && Number.isFinite(x) && x > 0;

export function validateGuardConfig(config: GuardConfig): GuardConfig {
  check(isPositive(config.bucketMs), 'bucketMs must be a positive number');
  check(
    Array.isArray(config.platforms) && config.platforms.length > 0 && config.platforms.every((p) => typeof p === 'string' && p !== 'all'),
    'platforms must be a non-empty list of platform names ("all" is reserved for the pooled segment)',
  );
  check(isProbability(config.alphaFail), 'alphaFail must be in (0, 1)');
  check(isProbability(config.alphaWarn), 'alphaWarn must be in (0, 1)');
  check(config.alphaWarn >= config.alphaFail, 'alphaWarn must not be below alphaFail');
  for (const metric of GUARD_METRICS) {
    const m = config.metrics[metric];
    check(isPlainObject(m), `metrics.${metric} is missing`);
    check(isPositive(m.rho0) && m.rho0 >= 1, `metrics.${metric}.rho0 must be ≥ 1`);
    check(m.control === 'concurrent' || m.control === 'historical', `metrics.${metric}.control must be concurrent or historical`);
    check(m.policy === 'rollback' || m.policy === 'pause', `metrics.${metric}.policy must be rollback or pause`);
    check(
      Array.isArray(config.grid) && config.grid.length > 0 && config.grid.every((rho) => isPositive(rho) && rho >= m.rho0),
      // A point equal to ρ0 adds a constant 1 to the mixture (valid, merely uninformative): the
      // spec's grid starts at 1.5, which is install_failure's ρ0.
      `every grid point must be ≥ metrics.${metric}.rho0 (${m.rho0}) for the test to be valid`,
    );
  }
  check(isPositive(config.cusum.threshold) && config.cusum.rho1 > 1, 'cusum needs rho1 > 1 and a positive threshold');
  check(isProbability(config.catastrophic.confidence) && isProbability(config.catastrophic.proportion), 'catastrophic confidence and proportion must be in (0, 1)');
  check(isProbability(config.pass.alpha) && isPositive(config.pass.rho), 'pass needs alpha in (0, 1) and a positive rho');
  check(
    config.pass.grid.length > 0 && config.pass.grid.every((rho) => isPositive(rho) && rho < config.pass.rho),
    'every pass.grid point must be below pass.rho for the PASS test to be valid',
  );
  check(isProbability(config.sampleRatio.pValue), 'sampleRatio.pValue must be in (0, 1)');
  check(config.minFailingDevices >= 1 && config.catastrophic.minFailingDevices >= 1, 'minimum failing devices must be ≥ 1');
  check(isPositive(config.dataHealth.maxIngestionLagMs) && isPositive(config.dataHealth.silentExpectedDevices), 'dataHealth thresholds must be positive');
  check(isPositive(config.inconclusiveMs) && config.pass.minBakeMs >= 0, 'inconclusiveMs must be positive and pass.minBakeMs non-negative');
  return config;
}

/** sha256 of the canonical JSON of the effective configuration; carried by every alert and record. */
export function configHash(config: GuardConfig): string {
  return sha256Hex(canonicalJson(config));
}

/** Tested segments: each platform, plus the pooled `all` — which is the platform itself when only one exists. */
export function guardSegments(config: GuardConfig): string[] {
  return config.platforms.length > 1 ? [...config.platforms, 'all'] : ['all'];
}

export function enabledMetrics(config: GuardConfig): GuardMetric[] {
  return GUARD_METRICS.filter((metric) => config.metrics[metric].enabled);
}
