import { GUARD_METRICS } from '../guard-config.js';
import type { GuardMetric } from '../guard-config.js';

export interface ScenarioStep {
  atMinute: number;
  percent: number;
}

export interface Scenario {
  name: string;
  seeds: number;
  horizonMinutes: number;
  steps: ScenarioStep[];
  devicesPerMinute: number;
  platforms: Record<string, number>;
  metric: GuardMetric;
  baselineRate: number;
  regression: { multiplier: number; fromMinute: number; platforms: string[] | null } | null;
  sharedShock: { multiplier: number; fromMinute: number; toMinute: number } | null;
  faults: {
    duplicateFraction: number;
    lateFraction: number;
    lateMinutes: number;
    crashLoopDevices: number;
    crashLoopEventsPerMinute: number;
    telemetryGap: { fromMinute: number; toMinute: number } | null;
  };
  expect: {
    maxFalseAlarmRate?: number;
    minDetectRate?: number;
    maxMedianMinutes?: number;
    maxFailingDevicesAtDetection?: number;
    pausedForData?: boolean;
    noRollback?: boolean;
  };
}

export class ScenarioError extends Error {
  readonly code = 'invalid_scenario';
  constructor(readonly source: string, readonly problems: string[]) {
    super(`${source}: invalid scenario\n  - ${problems.join('\n  - ')}`);
    this.name = 'ScenarioError';
  }
}

export const DEFAULT_STEPS: readonly ScenarioStep[] = [
  { atMinute: 0, percent: 1 },
  { atMinute: 60, percent: 5 },
  { atMinute: 240, percent: 20 },
  { atMinute: 720, percent: 50 },
];

const TOP_LEVEL = ['name', 'seeds', 'horizonMinutes', 'steps', 'devicesPerMinute', 'platforms', 'metric', 'baselineRate', 'regression', 'sharedShock', 'faults', 'expect'];
const FAULT_KEYS = ['duplicateFraction', 'lateFraction', 'lateMinutes', 'crashLoopDevices', 'crashLoopEventsPerMinute', 'telemetryGap'];
const EXPECT_KEYS = ['maxFalseAlarmRate', 'minDetectRate', 'maxMedianMinutes', 'maxFailingDevicesAtDetection', 'pausedForData', 'noRollback'];

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Parses and validates one scenario (FORMAT.md), collecting every problem rather than the first. */
export function parseScenario(text: string, source = 'scenario'): Scenario {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new ScenarioError(source, [`not valid JSON: ${(error as Error).message}`]);
  }
  return validateScenario(raw, source);
}

export function validateScenario(raw: unknown, source = 'scenario'): Scenario {
  const problems: string[] = [];
  if (!isObj(raw)) throw new ScenarioError(source, ['a scenario must be a JSON object']);
  const num = (obj: Obj, key: string, path: string, opts: { min?: number; max?: number; integer?: boolean; exclusiveMin?: boolean; fallback?: number }): number => {
    const value = obj[key];
    if (value === undefined) {
      if (opts.fallback === undefined) problems.push(`${path} is required`);
      return opts.fallback ?? Number.NaN;
    }
    if (typeof value !== 'number' || !Number.isFinite(value)) {
      problems.push(`${path} must be a number, got ${JSON.stringify(value)}`);
      return Number.NaN;
    }
    if (opts.integer && !Number.isInteger(value)) problems.push(`${path} must be an integer, got ${value}`);
    if (opts.min !== undefined && (opts.exclusiveMin ? value <= opts.min : value < opts.min)) problems.push(`${path} must be ${opts.exclusiveMin ? '>' : '≥'} ${opts.min}, got ${value}`);
    if (opts.max !== undefined && value > opts.max) problems.push(`${path} must be ≤ ${opts.max}, got ${value}`);
    return value;
  };
  const unknownKeys = (obj: Obj, allowed: string[], path: string): void => {
    for (const key of Object.keys(obj)) if (!allowed.includes(key)) problems.push(`${path}${key} is not a known field (allowed: ${allowed.join(', ')})`);
  };
  unknownKeys(raw, TOP_LEVEL, '');

  const name = raw.name;
  if (typeof name !== 'string' || name.trim() === '') problems.push('name is required and must be a non-empty string');
  const seeds = num(raw, 'seeds', 'seeds', { min: 1, integer: true, fallback: 200 });
  const horizonMinutes = num(raw, 'horizonMinutes', 'horizonMinutes', { min: 1, integer: true, fallback: 1440 });
  const devicesPerMinute = num(raw, 'devicesPerMinute', 'devicesPerMinute', { min: 0, exclusiveMin: true });
  const baselineRate = num(raw, 'baselineRate', 'baselineRate', { min: 0, max: 1 });
  const metric = raw.metric;
  if (!GUARD_METRICS.includes(metric as GuardMetric)) problems.push(`metric must be one of ${GUARD_METRICS.join(', ')}, got ${JSON.stringify(metric)}`);

  let steps: ScenarioStep[] = DEFAULT_STEPS.map((s) => ({ ...s }));
  if (raw.steps !== undefined) {
    if (!Array.isArray(raw.steps) || raw.steps.length === 0) problems.push('steps must be a non-empty array of {atMinute, percent}');
    else {
      steps = raw.steps.map((step: unknown, i) => {
        if (!isObj(step)) {
          problems.push(`steps[${i}] must be an object {atMinute, percent}`);
          return { atMinute: Number.NaN, percent: Number.NaN };
        }
        unknownKeys(step, ['atMinute', 'percent'], `steps[${i}].`);
        return { atMinute: num(step, 'atMinute', `steps[${i}].atMinute`, { min: 0 }), percent: num(step, 'percent', `steps[${i}].percent`, { min: 0, max: 100 }) };
      });
      steps.forEach((s, i) => {
        const prev = steps[i - 1];
        if (prev && !(s.atMinute > prev.atMinute)) problems.push(`steps must be in increasing atMinute order (steps[${i}].atMinute = ${s.atMinute})`);
      });
      if (steps[0] && steps[0].atMinute !== 0) problems.push('steps[0].atMinute must be 0 so every minute has a percentage');
    }
  }

  let platforms: Record<string, number> = { android: 1 };
  if (raw.platforms !== undefined) {
    if (!isObj(raw.platforms) || Object.keys(raw.platforms).length === 0) problems.push('platforms must be a non-empty object {name: share}');
    else {
      platforms = {};
      for (const platform of Object.keys(raw.platforms)) {
        if (platform === 'all') problems.push('platforms: "all" is reserved for the pooled segment');
        platforms[platform] = num(raw.platforms, platform, `platforms.${platform}`, { min: 0, exclusiveMin: true });
      }
      const total = Object.values(platforms).reduce((a, b) => a + b, 0);
      if (Number.isFinite(total) && Math.abs(total - 1) > 1e-6) problems.push(`platforms shares must sum to 1, got ${total}`);
    }
  }

  let regression: Scenario['regression'] = null;
  if (raw.regression !== undefined) {
    if (!isObj(raw.regression)) problems.push('regression must be an object {multiplier, fromMinute, platforms?}');
    else {
      unknownKeys(raw.regression, ['multiplier', 'fromMinute', 'platforms'], 'regression.');
      const rp = raw.regression.platforms;
      if (rp !== undefined && (!Array.isArray(rp) || rp.some((p) => typeof p !== 'string' || !(p in platforms)))) problems.push(`regression.platforms must list platforms declared in platforms (${Object.keys(platforms).join(', ')})`);
      regression = {
        multiplier: num(raw.regression, 'multiplier', 'regression.multiplier', { min: 0, exclusiveMin: true }),
        fromMinute: num(raw.regression, 'fromMinute', 'regression.fromMinute', { min: 0 }),
        platforms: Array.isArray(rp) ? (rp as string[]) : null,
      };
    }
  }

  let sharedShock: Scenario['sharedShock'] = null;
  if (raw.sharedShock !== undefined) {
    if (!isObj(raw.sharedShock)) problems.push('sharedShock must be an object {multiplier, fromMinute, toMinute}');
    else {
      unknownKeys(raw.sharedShock, ['multiplier', 'fromMinute', 'toMinute'], 'sharedShock.');
      sharedShock = {
        multiplier: num(raw.sharedShock, 'multiplier', 'sharedShock.multiplier', { min: 0, exclusiveMin: true }),
        fromMinute: num(raw.sharedShock, 'fromMinute', 'sharedShock.fromMinute', { min: 0 }),
        toMinute: num(raw.sharedShock, 'toMinute', 'sharedShock.toMinute', { min: 0 }),
      };
      if (sharedShock.toMinute <= sharedShock.fromMinute) problems.push('sharedShock.toMinute must be after fromMinute');
    }
  }

  const faults: Scenario['faults'] = { duplicateFraction: 0, lateFraction: 0, lateMinutes: 0, crashLoopDevices: 0, crashLoopEventsPerMinute: 0, telemetryGap: null };
  if (raw.faults !== undefined) {
    if (!isObj(raw.faults)) problems.push('faults must be an object');
    else {
      const f = raw.faults;
      unknownKeys(f, FAULT_KEYS, 'faults.');
      faults.duplicateFraction = num(f, 'duplicateFraction', 'faults.duplicateFraction', { min: 0, max: 1, fallback: 0 });
      faults.lateFraction = num(f, 'lateFraction', 'faults.lateFraction', { min: 0, max: 1, fallback: 0 });
      faults.lateMinutes = num(f, 'lateMinutes', 'faults.lateMinutes', { min: 0, fallback: 0 });
      faults.crashLoopDevices = num(f, 'crashLoopDevices', 'faults.crashLoopDevices', { min: 0, integer: true, fallback: 0 });
      faults.crashLoopEventsPerMinute = num(f, 'crashLoopEventsPerMinute', 'faults.crashLoopEventsPerMinute', { min: 0, fallback: faults.crashLoopDevices > 0 ? Number.NaN : 0 });
      if (faults.crashLoopDevices > 0 && f.crashLoopEventsPerMinute === undefined) problems.push('faults.crashLoopEventsPerMinute is required with crashLoopDevices');
      if (faults.lateFraction > 0 && f.lateMinutes === undefined) problems.push('faults.lateMinutes is required with lateFraction');
      if (f.telemetryGap !== undefined) {
        if (!isObj(f.telemetryGap)) problems.push('faults.telemetryGap must be an object {fromMinute, toMinute}');
        else {
          unknownKeys(f.telemetryGap, ['fromMinute', 'toMinute'], 'faults.telemetryGap.');
          const gap = { fromMinute: num(f.telemetryGap, 'fromMinute', 'faults.telemetryGap.fromMinute', { min: 0 }), toMinute: num(f.telemetryGap, 'toMinute', 'faults.telemetryGap.toMinute', { min: 0 }) };
          if (gap.toMinute <= gap.fromMinute) problems.push('faults.telemetryGap.toMinute must be after fromMinute');
          faults.telemetryGap = gap;
        }
      }
    }
  }

  const expect: Scenario['expect'] = {};
  if (!isObj(raw.expect)) problems.push('expect is required: {maxFalseAlarmRate} | {minDetectRate, maxMedianMinutes, maxFailingDevicesAtDetection?} | {pausedForData, noRollback}');
  else {
    unknownKeys(raw.expect, EXPECT_KEYS, 'expect.');
    for (const key of ['maxFalseAlarmRate', 'minDetectRate'] as const) if (raw.expect[key] !== undefined) expect[key] = num(raw.expect, key, `expect.${key}`, { min: 0, max: 1 });
    for (const key of ['maxMedianMinutes', 'maxFailingDevicesAtDetection'] as const) if (raw.expect[key] !== undefined) expect[key] = num(raw.expect, key, `expect.${key}`, { min: 0 });
    for (const key of ['pausedForData', 'noRollback'] as const) {
      const v = raw.expect[key];
      if (v === undefined) continue;
      if (typeof v !== 'boolean') problems.push(`expect.${key} must be a boolean`);
      else expect[key] = v;
    }
    if (Object.keys(expect).length === 0 && problems.length === 0) problems.push('expect must state at least one expectation');
    if ((expect.minDetectRate !== undefined || expect.maxMedianMinutes !== undefined) && raw.regression === undefined) problems.push('expect.minDetectRate/maxMedianMinutes need a regression to detect');
    if (expect.pausedForData && faults.telemetryGap === null) problems.push('expect.pausedForData needs faults.telemetryGap');
  }

  if (problems.length > 0) throw new ScenarioError(source, problems);
  return {
    name: name as string, seeds, horizonMinutes, steps, devicesPerMinute, platforms, metric: metric as GuardMetric,
    baselineRate, regression, sharedShock, faults, expect,
  };
}
