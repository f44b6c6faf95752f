import { describe, expect, it } from 'vitest';
import { createGuardState, evaluate, thresholdsFor } from '../../../src/guard/evaluator.js';
import { configHash, resolveGuardConfig } from '../../../src/guard/guard-config.js';
import type { GuardConfig, GuardMetric } from '../../../src/guard/guard-config.js';
import type { BucketInputs, Evaluation, GuardState, SegmentInput } from '../../../src/guard/guard-types.js';

const MINUTE = 60_000;

function onlyMetric(metric: GuardMetric, extra: Parameters<typeof resolveGuardConfig>[1] = {}): GuardConfig {
  return resolveGuardConfig({}, {
    ...extra,
    platforms: ['android'],
    metrics: {
      install_failure: { enabled: metric === 'install_failure' },
      launch_failure: { enabled: metric === 'launch_failure' },
      crash_rate: { enabled: metric === 'crash_rate' },
    },
  });
}

function bucket(minute: number, metric: GuardMetric, input: SegmentInput, overrides: Partial<BucketInputs> = {}): BucketInputs {
  return {
    bucketStart: minute * MINUTE,
    percent: 10,
    stepStartedAt: 0,
    health: { ingestionLagMs: 0, reportingU: 50, reportingC: 500 },
    metrics: { [metric]: { all: input } },
    ...overrides,
  };
}

function run(config: GuardConfig, inputs: BucketInputs[], state: GuardState = createGuardState(config)): Evaluation[] {
  const out: Evaluation[] = [];
  let current = state;
  for (const input of inputs) {
    const evaluation = evaluate(current, input, config);
    out.push(evaluation);
    current = evaluation.state;
  }
  return out;
}

describe('evaluate — detectors and gates', () => {
  it('runs the CUSUM S_t = max(0, S_{t−1} + ℓ_t(2)) on the one-sample form', () => {
    // λ0 = 0.01, e = 100 per bucket: ℓ_t(2) = 0.510826·x − 0.8; x = 0, 3, 0, 4 gives
    // increments −0.8, 0.732477, −0.8, 1.243302 and S = 0, 0.732477, 0 (−0.067523 floored), 1.243302.
    const config = onlyMetric('launch_failure');
    const xs = [0, 3, 0, 4];
    const evaluations = run(config, xs.map((x, i) => bucket(i, 'launch_failure', { treatment: { failing: x, exposed: 100 }, baselineRate: 0.01 })));
    const cusum = evaluations.map((e) => e.record.segments[0]?.cusum);
    expect(cusum[0]).toBe(0);
    expect(cusum[1]).toBeCloseTo(0.7324768712979721, 12);
    expect(cusum[2]).toBe(0);
    expect(cusum[3]).toBeCloseTo(1.2433024950639628, 12);
  });

  it('keeps Σℓ per grid point, so Λ after two buckets equals the hand-mixed value', () => {
    const config = resolveGuardConfig({}, { platforms: ['android'], grid: [2, 3], metrics: { install_failure: { enabled: false }, launch_failure: { enabled: false } } });
    const [, second] = run(config, [
      bucket(0, 'crash_rate', { treatment: { failing: 2, exposed: 10 }, control: { failing: 3, exposed: 90 } }),
      bucket(1, 'crash_rate', { treatment: { failing: 1, exposed: 10 }, control: { failing: 0, exposed: 90 } }),
    ]);
    const trace = second?.record.segments[0];
    expect(trace?.sumL[0]).toBeCloseTo(1.079431556249101, 12);
    expect(trace?.sumL[1]).toBeCloseTo(1.7737586186358156, 12);
    expect(Math.exp(trace?.logLambda ?? 0)).toBeCloseTo(4.417983661840728, 10);
  });

  it('does not FAIL on overwhelming evidence from fewer than 5 distinct failing devices', () => {
    const config = onlyMetric('crash_rate');
    const four = run(config, [bucket(0, 'crash_rate', { treatment: { failing: 4, exposed: 5, newFailingDevices: 4 }, control: { failing: 0, exposed: 1000 } })]);
    expect(four[0]?.record.segments[0]?.logLambda).toBeGreaterThan(thresholdsFor(config).logFail);
    expect(four[0]?.decision.kind).toBe('warn');
    const five = run(config, [bucket(0, 'crash_rate', { treatment: { failing: 5, exposed: 6, newFailingDevices: 5 }, control: { failing: 0, exposed: 1000 } })]);
    expect(five[0]?.decision).toMatchObject({ kind: 'fail', action: 'rollback', trigger: { metric: 'crash_rate', segment: 'all', detector: 'sprt' } });
  });

  it('carries the evidence an alert needs', () => {
    const config = onlyMetric('crash_rate');
    const [evaluation] = run(config, [bucket(0, 'crash_rate', { treatment: { failing: 6, exposed: 10 }, control: { failing: 1, exposed: 990 } })]);
    const evidence = evaluation?.decision.evidence;
    expect(evidence).toMatchObject({
      metric: 'crash_rate',
      segment: 'all',
      counts: { failingU: 6, failingC: 1, distinctFailingU: 6 },
      exposures: { exposedU: 10, exposedC: 990 },
      rhoEstimator: 'mantel_haenszel',
      alpha: 0.01,
      configHash: configHash(config),
    });
    // Mantel–Haenszel over one stratum: (6·990/1000) / (1·10/1000) = 594.
    expect(evidence?.estimatedRho).toBeCloseTo(594, 9);
    expect(evidence?.pValue).toBeCloseTo(Math.exp(-(evidence?.logLambda ?? 0)), 12);
  });

  it('applies the metric policy: install_failure pauses, launch_failure rolls back', () => {
    const install = run(onlyMetric('install_failure'), [bucket(0, 'install_failure', { treatment: { failing: 8, exposed: 20 }, baselineRate: 0.02 })]);
    expect(install[0]?.decision).toMatchObject({ kind: 'fail', action: 'pause' });
    const launch = run(onlyMetric('launch_failure'), [bucket(0, 'launch_failure', { treatment: { failing: 8, exposed: 20 }, baselineRate: 0.02 })]);
    expect(launch[0]?.decision).toMatchObject({ kind: 'fail', action: 'rollback' });
  });

  it('fires the catastrophic guard without any baseline once the 99% lower bound passes 20%', () => {
    const config = onlyMetric('launch_failure');
    // 5 of 10: lower bound 0.1504 ≤ 0.2 → no FAIL; 5 of 5: 0.3981 > 0.2 → FAIL.
    const half = run(config, [bucket(0, 'launch_failure', { treatment: { failing: 5, exposed: 10 }, baselineRate: null })]);
    expect(half[0]?.decision.kind).toBe('continue');
    expect(half[0]?.record.segments[0]?.catastrophicLowerBound).toBeCloseTo(0.1504428, 6);
    const all = run(config, [bucket(0, 'launch_failure', { treatment: { failing: 5, exposed: 5 }, baselineRate: null })]);
    expect(all[0]?.decision).toMatchObject({ kind: 'fail', trigger: { detector: 'catastrophic' } });
  });

  it('stays failed until a human starts a fresh test', () => {
    const config = onlyMetric('crash_rate');
    const evaluations = run(config, [
      bucket(0, 'crash_rate', { treatment: { failing: 6, exposed: 10 }, control: { failing: 1, exposed: 990 } }),
      bucket(1, 'crash_rate', { treatment: { failing: 0, exposed: 10 }, control: { failing: 5, exposed: 990 } }),
    ]);
    expect(evaluations[1]?.decision.kind).toBe('fail');
    expect(evaluations[1]?.decision.at).toBe(2 * MINUTE);
    expect(evaluations[1]?.decision.trigger).toEqual(evaluations[0]?.decision.trigger);
  });
});

describe('evaluate — data health, PASS, hold, sample ratio', () => {
  const config = onlyMetric('crash_rate');
  const healthy = (minute: number, overrides: Partial<BucketInputs> = {}): BucketInputs =>
    bucket(minute, 'crash_rate', { treatment: { failing: 0, exposed: 100 }, control: { failing: 9, exposed: 900 } }, overrides);

  it('pauses (never fails) on ingestion lag above 5 minutes and leaves the statistics untouched', () => {
    const failing = bucket(0, 'crash_rate', { treatment: { failing: 9, exposed: 10 }, control: { failing: 0, exposed: 990 } }, { health: { ingestionLagMs: 5 * MINUTE + 1, reportingU: 20 } });
    const [evaluation] = run(config, [failing]);
    expect(evaluation?.decision).toMatchObject({ kind: 'pause_data', action: 'pause', trigger: { detector: 'data_health' } });
    expect(evaluation?.record.segments).toEqual([]);
    expect(evaluation?.state.metrics.crash_rate?.all?.failingU).toBe(0);
  });

  it('pauses when no U events arrive while more than 20 were expected', () => {
    // 50 U events per bucket at 10%: 500 per unit share. After a long healthy stretch the EWMA
    // expects ≈ 50 per silent bucket, so the first silent bucket already exceeds 20.
    const warmup = Array.from({ length: 120 }, (_, i) => healthy(i));
    const silent = healthy(120, { health: { ingestionLagMs: 0, reportingU: 0 } });
    const evaluations = run(config, [...warmup, silent]);
    const last = evaluations[evaluations.length - 1];
    expect(last?.decision.kind).toBe('pause_data');
    expect(last?.record.health).toMatchObject({ healthy: false, reason: 'telemetry_silence', silentSince: 120 * MINUTE });
  });

  it('does not pause on a silent bucket when fewer than 20 events were expected', () => {
    const quiet = (minute: number, reportingU: number) => healthy(minute, { health: { ingestionLagMs: 0, reportingU } });
    const evaluations = run(config, [...Array.from({ length: 60 }, (_, i) => quiet(i, 2)), quiet(60, 0), quiet(61, 0)]);
    expect(evaluations.map((e) => e.decision.kind)).not.toContain('pause_data');
  });

  it('passes only after the 60-minute bake, once ρ ≥ 1.5 is rejected', () => {
    const inputs = Array.from({ length: 90 }, (_, i) => healthy(i, { stepStartedAt: 30 * MINUTE }));
    const evaluations = run(config, inputs);
    const firstPass = evaluations.findIndex((e) => e.decision.kind === 'pass');
    // The step began at minute 30, so the earliest PASS is at the end of minute 89 (bucket 89 ends at 90).
    expect(firstPass).toBe(89);
    expect(evaluations[88]?.record.segments[0]?.passLogLambda).toBeGreaterThan(Math.log(20));
  });

  it('holds after 24 h without PASS', () => {
    const nothing = (minute: number) => bucket(minute, 'crash_rate', { treatment: { failing: 0, exposed: 0 }, control: { failing: 0, exposed: 0 } });
    const state = run(config, [nothing(0)])[0]?.state ?? createGuardState(config);
    const [late] = run(config, [nothing(24 * 60 - 1)], state);
    expect(late?.decision).toMatchObject({ kind: 'hold_inconclusive', action: 'hold' });
  });

  it('warns and blocks PASS on a sample-ratio mismatch (p < 0.001)', () => {
    const inputs = Array.from({ length: 90 }, (_, i) => healthy(i, { traffic: { devicesU: 200, devicesC: 800 } }));
    const evaluations = run(config, inputs);
    expect(evaluations.some((e) => e.decision.kind === 'pass')).toBe(false);
    expect(evaluations[89]?.decision).toMatchObject({ kind: 'warn', trigger: { detector: 'sample_ratio' } });
    expect(evaluations[89]?.record.sampleRatio.pValue).toBeLessThan(0.001);
  });
});

describe('Bonferroni split', () => {
  it('divides α_fail across each platform plus the pooled segment', () => {
    const config = resolveGuardConfig({}, { platforms: ['android', 'ios'] });
    expect(thresholdsFor(config).segments).toBe(3);
    expect(thresholdsFor(config).logFail).toBeCloseTo(Math.log(3 / 0.01), 12);
    expect(thresholdsFor(onlyMetric('crash_rate')).logFail).toBeCloseTo(Math.log(1 / 0.01), 12);
  });
});
