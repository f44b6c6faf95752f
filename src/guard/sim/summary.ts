import type { RunOutcome } from './guard-driver.js';
import type { Scenario } from './scenario.js';

/** One line of the harness table. Minutes are null when the quantile falls on undetected runs. */
export interface ScenarioSummary {
  name: string;
  runs: number;
  alarmRate: number;
  detectRate: number | null;
  medianMinutes: number | null;
  p90Minutes: number | null;
  failingDevicesAtDetection: number | null;
  exposedDevicesAtDetection: number | null;
  pausedForDataRate: number;
  /** FAILs per detector (sprt, cusum, catastrophic): the CUSUM is the one detector without an α guarantee. */
  alarmsByDetector: Record<string, number>;
  expectHeld: boolean;
  violations?: string[];
}

/** Quantile of a sample in which undetected runs count as +∞ (so a 40% detect rate has no median). */
function quantile(sorted: number[], q: number): number | null {
  if (sorted.length === 0) return null;
  const value = sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
  return value === undefined || !Number.isFinite(value) ? null : value;
}

function median(values: number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[mid] ?? null) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

/**
 * Folds the runs of one scenario into its line. A run "alarms" when the guard decided FAILED;
 * with a regression, only a FAIL after regression.fromMinute is a detection, and minutes to detect
 * count from there. Failing devices at detection are the distinct failing devices on U behind the
 * triggering segment, as a median over detecting runs.
 */
export function summarise(scenario: Scenario, outcomes: RunOutcome[]): ScenarioSummary {
  const runs = outcomes.length;
  const alarms = outcomes.filter((o) => o.failedAtMinute !== null);
  const from = scenario.regression?.fromMinute ?? null;
  let detectRate: number | null = null;
  let medianMinutes: number | null = null;
  let p90Minutes: number | null = null;
  const detecting = from === null ? [] : alarms.filter((o) => (o.failedAtMinute ?? 0) > from);
  if (from !== null) {
    detectRate = detecting.length / runs;
    const delays = outcomes
      .map((o) => (o.failedAtMinute !== null && o.failedAtMinute > from ? o.failedAtMinute - from : Number.POSITIVE_INFINITY))
      .sort((a, b) => a - b);
    medianMinutes = quantile(delays, 0.5);
    p90Minutes = quantile(delays, 0.9);
  }
  const summary: ScenarioSummary = {
    name: scenario.name,
    runs,
    alarmRate: alarms.length / runs,
    detectRate,
    medianMinutes,
    p90Minutes,
    failingDevicesAtDetection: median(detecting.map((o) => o.failingDevicesAtDetection ?? 0)),
    exposedDevicesAtDetection: median(detecting.map((o) => o.exposedDevicesAtDetection ?? 0)),
    pausedForDataRate: outcomes.filter((o) => o.pausedForData).length / runs,
    alarmsByDetector: countBy(alarms.map((o) => o.failDetector ?? 'unknown')),
    expectHeld: true,
  };
  const violations = checkExpectations(scenario, summary, outcomes);
  summary.expectHeld = violations.length === 0;
  if (violations.length > 0) summary.violations = violations;
  return summary;
}

function countBy(keys: string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const key of keys) counts[key] = (counts[key] ?? 0) + 1;
  return counts;
}

function checkExpectations(scenario: Scenario, s: ScenarioSummary, outcomes: RunOutcome[]): string[] {
  const e = scenario.expect;
  const problems: string[] = [];
  if (e.maxFalseAlarmRate !== undefined && s.alarmRate > e.maxFalseAlarmRate) problems.push(`alarmRate ${s.alarmRate} > ${e.maxFalseAlarmRate}`);
  if (e.minDetectRate !== undefined && (s.detectRate ?? 0) < e.minDetectRate) problems.push(`detectRate ${s.detectRate} < ${e.minDetectRate}`);
  if (e.maxMedianMinutes !== undefined && (s.medianMinutes === null || s.medianMinutes > e.maxMedianMinutes)) problems.push(`medianMinutes ${s.medianMinutes} > ${e.maxMedianMinutes}`);
  if (e.maxFailingDevicesAtDetection !== undefined && (s.failingDevicesAtDetection === null || s.failingDevicesAtDetection > e.maxFailingDevicesAtDetection)) {
    problems.push(`failingDevicesAtDetection ${s.failingDevicesAtDetection} > ${e.maxFailingDevicesAtDetection}`);
  }
  if (e.pausedForData === true && s.pausedForDataRate < 1) problems.push(`only ${s.pausedForDataRate} of runs paused for data`);
  if (e.noRollback === true) {
    const rollbacks = outcomes.filter((o) => o.failAction === 'rollback').length;
    if (rollbacks > 0) problems.push(`${rollbacks} runs rolled back`);
  }
  return problems;
}
