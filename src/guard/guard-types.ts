import type { ArmCounts } from './likelihood.js';
import type { ControlKind, GuardMetric } from './guard-config.js';

export const DETECTOR_VERSION = 'otaguard-guard/1.0.0';

/** Treatment (U) counts of one bucket; newFailingDevices = devices failing on U for the first time in this test. */
export interface TreatmentCounts extends ArmCounts {
  newFailingDevices?: number;
}

/** One segment's inputs for one bucket. `control` feeds the concurrent form, `baselineRate` (λ0) the historical one. */
export interface SegmentInput {
  treatment: TreatmentCounts;
  control?: ArmCounts;
  baselineRate?: number | null;
}

/**
 * Everything the guard sees for ONE bucket. Segments are keyed by platform name, plus `all`
 * (pooled); a segment or metric absent from `metrics` had no devices in this bucket.
 */
export interface BucketInputs {
  bucketStart: number;
  /** Share of devices offered U, in percent (0–100), during this bucket. */
  percent: number;
  /** When the current step began (ms); the PASS test needs the step to have baked. */
  stepStartedAt: number;
  health: {
    /** Pipeline lag (receipt → counted), not device-side delivery delay. */
    ingestionLagMs: number;
    /** Distinct devices whose (non-duplicate) events about U arrived during this bucket. */
    reportingU: number;
    /** The same for the baseline C. */
    reportingC?: number;
  };
  /** Active devices on U and on C in this bucket, for the sample-ratio check. */
  traffic?: { devicesU: number; devicesC: number };
  metrics: Partial<Record<GuardMetric, Record<string, SegmentInput>>>;
}

export interface SegmentState {
  sumL: number[];
  logLambda: number;
  maxLogLambda: number;
  cusum: number;
  passSumL: number[];
  passLogLambda: number;
  failingU: number;
  exposedU: number;
  failingC: number;
  exposedC: number;
  distinctFailingU: number;
  /** Σ λ0·e_T: expected U failures under the baseline, for the one-sample ρ estimate. */
  expectedFailingU: number;
  /** Mantel–Haenszel sums Σ x_T·e_C/n and Σ x_C·e_T/n, for the stratified ρ estimate. */
  mhNumerator: number;
  mhDenominator: number;
}

export interface HealthState {
  /** Exponentially weighted U events per bucket and share per bucket; their ratio is events per unit share. */
  rateReporting: number;
  rateShare: number;
  silentSince: number | null;
  silentExpected: number;
}

export type Detector =
  | 'sprt'
  | 'cusum'
  | 'catastrophic'
  | 'warning'
  | 'sample_ratio'
  | 'data_health'
  | 'pass'
  | 'inconclusive';

export interface Trigger {
  metric: GuardMetric | null;
  segment: string | null;
  detector: Detector;
}

export interface GuardState {
  sequence: number;
  startedAt: number | null;
  lastPassAt: number | null;
  /** Set once; a human resume starts a fresh state. */
  failure: { at: number; trigger: Trigger; evidence: Evidence } | null;
  metrics: Partial<Record<GuardMetric, Record<string, SegmentState>>>;
  health: HealthState;
  sampleRatio: { percent: number; devicesU: number; devicesC: number };
}

export type DecisionKind = 'continue' | 'warn' | 'pass' | 'fail' | 'pause_data' | 'hold_inconclusive';
export type DecisionAction = 'none' | 'notify' | 'advance' | 'hold' | 'pause' | 'rollback';

export interface Evidence {
  metric: GuardMetric;
  segment: string;
  form: ControlKind;
  counts: { failingU: number; failingC: number; distinctFailingU: number };
  exposures: { exposedU: number; exposedC: number };
  /** Concurrent form: Mantel–Haenszel over buckets; historical form: Σx_T / Σλ0·e_T. */
  estimatedRho: number | null;
  rhoEstimator: 'mantel_haenszel' | 'observed_over_baseline';
  pValue: number;
  lambda: number;
  logLambda: number;
  cusum: number;
  alpha: number;
  configHash: string;
  detectorVersion: string;
}

export interface Decision {
  kind: DecisionKind;
  action: DecisionAction;
  at: number;
  trigger: Trigger | null;
  evidence: Evidence | null;
  reason: string;
}

/** Everything computed for one segment in one evaluation; enough to audit the decision by hand. */
export interface SegmentTrace {
  metric: GuardMetric;
  segment: string;
  form: ControlKind;
  testable: boolean;
  rho0: number;
  baselineRate: number | null;
  ell: number[];
  sumL: number[];
  logLambda: number;
  maxLogLambda: number;
  pValue: number;
  cusumIncrement: number;
  cusum: number;
  passSumL: number[];
  passLogLambda: number;
  distinctFailingU: number;
  failingU: number;
  exposedU: number;
  catastrophicLowerBound: number | null;
  estimatedRho: number | null;
  fired: Detector[];
}

export interface DecisionRecord {
  detectorVersion: string;
  configHash: string;
  sequence: number;
  inputs: BucketInputs;
  thresholds: {
    segments: number;
    logFail: number;
    logWarn: number;
    logPass: number;
    cusum: number;
    minFailingDevices: number;
  };
  health: { healthy: boolean; reason: string | null; silentSince: number | null; silentExpected: number };
  sampleRatio: { chiSquare: number | null; pValue: number | null };
  segments: SegmentTrace[];
  decision: Decision;
}

export interface Evaluation {
  state: GuardState;
  decision: Decision;
  record: DecisionRecord;
}
