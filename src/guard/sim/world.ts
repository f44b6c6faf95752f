import { historicalBaselineRate } from '../baseline-rate.js';
import type { GuardConfig, GuardMetric } from '../guard-config.js';
import { GUARD_METRICS, resolveGuardConfig } from '../guard-config.js';
import type { Rng } from './prng.js';
import type { Scenario, ScenarioStep } from './scenario.js';

export const MINUTE_MS = 60_000;
export const VERSION_U = '2.0.0';
export const VERSION_C = '1.9.0';

/** The rollout configuration a scenario runs under: spec defaults, its platforms, its one metric. */
export function simGuardConfig(scenario: Scenario): GuardConfig {
  const metrics = Object.fromEntries(GUARD_METRICS.map((m) => [m, { enabled: m === scenario.metric }]));
  return resolveGuardConfig({}, { platforms: Object.keys(scenario.platforms), metrics });
}

export function stepAt(scenario: Scenario, minute: number): ScenarioStep {
  let current = scenario.steps[0] ?? { atMinute: 0, percent: 0 };
  for (const step of scenario.steps) if (step.atMinute <= minute) current = step;
  return current;
}

/** Probability that an exposed device fails at `minute` on `platform`, on U or on C. */
export function failureRate(scenario: Scenario, arm: 'U' | 'C', platform: string, minute: number): number {
  let rate = scenario.baselineRate;
  const shock = scenario.sharedShock;
  if (shock && minute >= shock.fromMinute && minute < shock.toMinute) rate *= shock.multiplier;
  const reg = scenario.regression;
  if (arm === 'U' && reg && minute >= reg.fromMinute && (reg.platforms === null || reg.platforms.includes(platform))) rate *= reg.multiplier;
  return Math.min(1, rate);
}

export function inTelemetryGap(scenario: Scenario, atMs: number): boolean {
  const gap = scenario.faults.telemetryGap;
  return gap !== null && atMs >= gap.fromMinute * MINUTE_MS && atMs < gap.toMinute * MINUTE_MS;
}

/** Days of C history behind λ0, and how many earlier releases stand in when it is too thin. */
const HISTORY_MINUTES = 1440;
const PREVIOUS_RELEASES = 3;

/**
 * λ0 per segment for the one-sample metrics. Model: before the rollout C ran on every device, and
 * each of the scenario's devices-per-minute was exposed to C once (one download/install of C per
 * arriving device) over the previous day; C's failures there are Binomial(exposed, baselineRate).
 * λ0 is the spec's upper 95% bound when that day holds ≥ 20 failures; otherwise three earlier
 * releases with the same traffic and rate are pooled (the spec's fallback).
 */
export function simulateBaselineRates(scenario: Scenario, rng: Rng): Partial<Record<GuardMetric, Record<string, number | null>>> {
  const perPlatform = Object.entries(scenario.platforms).map(([platform, share]) => {
    const history = drawHistory(scenario, share, rng);
    const previous = Array.from({ length: PREVIOUS_RELEASES }, () => drawHistory(scenario, share, rng));
    return { platform, history, previous };
  });
  const rates: Record<string, number | null> = {};
  for (const p of perPlatform) rates[p.platform] = historicalBaselineRate(p.history, p.previous);
  const sum = (pick: (p: (typeof perPlatform)[number]) => { failing: number; exposed: number }) =>
    perPlatform.reduce((acc, p) => ({ failing: acc.failing + pick(p).failing, exposed: acc.exposed + pick(p).exposed }), { failing: 0, exposed: 0 });
  const pooledPrevious = Array.from({ length: PREVIOUS_RELEASES }, (_, i) => sum((p) => p.previous[i] ?? { failing: 0, exposed: 0 }));
  rates.all = historicalBaselineRate(sum((p) => p.history), pooledPrevious);
  return { [scenario.metric]: rates };
}

function drawHistory(scenario: Scenario, share: number, rng: Rng): { failing: number; exposed: number } {
  const exposed = rng.poisson(scenario.devicesPerMinute * share * HISTORY_MINUTES);
  return { exposed, failing: rng.binomial(exposed, scenario.baselineRate) };
}
