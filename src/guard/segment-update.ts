import { clopperPearsonLower } from './confidence-bounds.js';
import type { GuardConfig, GuardMetric, MetricGuardConfig } from './guard-config.js';
import type { Detector, SegmentInput, SegmentState, SegmentTrace, TreatmentCounts } from './guard-types.js';
import type { ArmCounts } from './likelihood.js';
import {
  alwaysValidPValue,
  conditionalLogLikelihoodRatio,
  logSumExp,
  poissonLogLikelihoodRatio,
} from './likelihood.js';

const NO_COUNTS: ArmCounts = Object.freeze({ failing: 0, exposed: 0 });

/** Per-threshold values shared by every segment of one evaluation, in log space. */
export interface SegmentThresholds {
  logFail: number;
  logWarn: number;
  logPass: number;
  cusum: number;
  minFailingDevices: number;
}

export function createSegmentState(config: GuardConfig): SegmentState {
  return {
    sumL: config.grid.map(() => 0),
    logLambda: 0,
    maxLogLambda: 0,
    cusum: 0,
    passSumL: config.pass.grid.map(() => 0),
    passLogLambda: 0,
    failingU: 0,
    exposedU: 0,
    failingC: 0,
    exposedC: 0,
    distinctFailingU: 0,
    expectedFailingU: 0,
    mhNumerator: 0,
    mhDenominator: 0,
  };
}

/** ln(1/n) for each of n uniformly weighted grid points. */
function uniformLogWeights(n: number): number[] {
  return Array.from({ length: n }, () => -Math.log(n));
}

type Ell = (rho: number, rho0: number) => number;

function likelihoodFor(metric: MetricGuardConfig, input: SegmentInput | undefined): { ell: Ell; testable: boolean; baselineRate: number | null } {
  const treatment = input?.treatment ?? NO_COUNTS;
  if (metric.control === 'concurrent') {
    const control = input?.control ?? NO_COUNTS;
    return { ell: (rho, rho0) => conditionalLogLikelihoodRatio(treatment, control, rho, rho0), testable: true, baselineRate: null };
  }
  const baselineRate = input?.baselineRate ?? null;
  if (baselineRate === null || !(baselineRate > 0) || !Number.isFinite(baselineRate)) {
    // Without λ0 the one-sample test has nothing to compare with; the catastrophic guard still runs.
    return { ell: () => 0, testable: false, baselineRate: null };
  }
  return { ell: (rho, rho0) => poissonLogLikelihoodRatio(treatment, baselineRate, rho, rho0), testable: true, baselineRate };
}

export function estimatedRho(state: SegmentState, metric: MetricGuardConfig): number | null {
  if (metric.control === 'concurrent') {
    return state.mhDenominator > 0 ? state.mhNumerator / state.mhDenominator : null;
  }
  return state.expectedFailingU > 0 ? state.failingU / state.expectedFailingU : null;
}

/**
 * Folds one bucket into one segment's running state in O(grid): the mixture SPRT, the CUSUM, the
 * PASS test and the cumulative counts. Returns the new state and the trace that goes into the log.
 */
export function updateSegment(
  previous: SegmentState,
  input: SegmentInput | undefined,
  metricName: GuardMetric,
  segment: string,
  config: GuardConfig,
  thresholds: SegmentThresholds,
): { state: SegmentState; trace: SegmentTrace } {
  const metric = config.metrics[metricName];
  const { ell, testable, baselineRate } = likelihoodFor(metric, input);
  const treatment: TreatmentCounts = input?.treatment ?? NO_COUNTS;
  const control = input?.control ?? NO_COUNTS;

  const increments = config.grid.map((rho) => ell(rho, metric.rho0));
  const sumL = previous.sumL.map((sum, j) => sum + (increments[j] ?? 0));
  const logLambda = logSumExp(sumL, uniformLogWeights(sumL.length));
  const maxLogLambda = Math.max(previous.maxLogLambda, logLambda);
  const cusumIncrement = ell(config.cusum.rho1, metric.rho0);
  const cusum = Math.max(0, previous.cusum + cusumIncrement);
  const passSumL = previous.passSumL.map((sum, j) => sum + ell(config.pass.grid[j] ?? 1, config.pass.rho));
  const passLogLambda = logSumExp(passSumL, uniformLogWeights(passSumL.length));

  // Without a device-level distinct count every failing device-bucket is taken as a new device.
  const newFailing = treatment.newFailingDevices ?? treatment.failing;
  const stratum = treatment.exposed + control.exposed;
  const state: SegmentState = {
    sumL,
    logLambda,
    maxLogLambda,
    cusum,
    passSumL,
    passLogLambda,
    failingU: previous.failingU + treatment.failing,
    exposedU: previous.exposedU + treatment.exposed,
    failingC: previous.failingC + control.failing,
    exposedC: previous.exposedC + control.exposed,
    distinctFailingU: previous.distinctFailingU + newFailing,
    expectedFailingU: previous.expectedFailingU + (baselineRate ?? 0) * treatment.exposed,
    mhNumerator: previous.mhNumerator + (stratum > 0 ? (treatment.failing * control.exposed) / stratum : 0),
    mhDenominator: previous.mhDenominator + (stratum > 0 ? (control.failing * treatment.exposed) / stratum : 0),
  };

  const fired: Detector[] = [];
  const enoughDevices = state.distinctFailingU >= thresholds.minFailingDevices;
  if (testable && logLambda >= thresholds.logFail && enoughDevices) fired.push('sprt');
  if (testable && cusum >= thresholds.cusum && enoughDevices) fired.push('cusum');
  let catastrophicLowerBound: number | null = null;
  const cat = config.catastrophic;
  // The bound can only exceed the threshold if the point estimate does; skip the bisection otherwise.
  if (metric.catastrophic && state.distinctFailingU >= cat.minFailingDevices && state.failingU > cat.proportion * state.exposedU) {
    catastrophicLowerBound = clopperPearsonLower(state.failingU, Math.max(state.exposedU, state.failingU), cat.confidence);
    if (catastrophicLowerBound > cat.proportion) fired.push('catastrophic');
  }
  if (testable && logLambda >= thresholds.logWarn) fired.push('warning');
  if (testable && passLogLambda >= thresholds.logPass) fired.push('pass');

  const trace: SegmentTrace = {
    metric: metricName,
    segment,
    form: metric.control,
    testable,
    rho0: metric.rho0,
    baselineRate,
    ell: increments,
    sumL,
    logLambda,
    maxLogLambda,
    pValue: alwaysValidPValue(maxLogLambda),
    cusumIncrement,
    cusum,
    passSumL,
    passLogLambda,
    distinctFailingU: state.distinctFailingU,
    failingU: state.failingU,
    exposedU: state.exposedU,
    catastrophicLowerBound,
    estimatedRho: estimatedRho(state, metric),
    fired,
  };
  return { state, trace };
}
