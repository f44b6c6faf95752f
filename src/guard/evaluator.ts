import { assessHealth, createHealthState } from './data-health.js';
import type { HealthVerdict } from './data-health.js';
import type { GuardConfig, GuardMetric } from './guard-config.js';
import { configHash, enabledMetrics, guardSegments } from './guard-config.js';
import { DETECTOR_VERSION } from './guard-types.js';
import type {
  BucketInputs,
  Decision,
  DecisionRecord,
  Detector,
  Evaluation,
  Evidence,
  GuardState,
  SegmentState,
  SegmentTrace,
  Trigger,
} from './guard-types.js';
import { alwaysValidPValue } from './likelihood.js';
import { updateSampleRatio } from './sample-ratio.js';
import type { SegmentThresholds } from './segment-update.js';
import { createSegmentState, estimatedRho, updateSegment } from './segment-update.js';

const FAIL_DETECTORS: readonly Detector[] = ['sprt', 'cusum', 'catastrophic'];
const hashCache = new WeakMap<GuardConfig, string>();

/** Hashing once per configuration object keeps an evaluation O(grid · segments). */
function cachedConfigHash(config: GuardConfig): string {
  let hash = hashCache.get(config);
  if (hash === undefined) {
    hash = configHash(config);
    hashCache.set(config, hash);
  }
  return hash;
}

/** A fresh test: every enabled metric × segment starts at Λ = 1, CUSUM = 0. */
export function createGuardState(config: GuardConfig): GuardState {
  const metrics: GuardState['metrics'] = {};
  for (const metric of enabledMetrics(config)) {
    metrics[metric] = Object.fromEntries(guardSegments(config).map((s) => [s, createSegmentState(config)]));
  }
  return {
    sequence: 0,
    startedAt: null,
    lastPassAt: null,
    failure: null,
    metrics,
    health: createHealthState(),
    sampleRatio: { percent: -1, devicesU: 0, devicesC: 0 },
  };
}

export function thresholdsFor(config: GuardConfig): SegmentThresholds & { segments: number } {
  const segments = guardSegments(config).length;
  return {
    segments,
    logFail: Math.log(segments / config.alphaFail),
    logWarn: Math.log(segments / config.alphaWarn),
    // PASS must hold on every segment (an intersection–union test), so its α is not split.
    logPass: Math.log(1 / config.pass.alpha),
    cusum: config.cusum.threshold,
    minFailingDevices: config.minFailingDevices,
  };
}

function buildEvidence(metric: GuardMetric, segment: string, s: SegmentState, config: GuardConfig, alpha: number): Evidence {
  const metricConfig = config.metrics[metric];
  return {
    metric,
    segment,
    form: metricConfig.control,
    counts: { failingU: s.failingU, failingC: s.failingC, distinctFailingU: s.distinctFailingU },
    exposures: { exposedU: s.exposedU, exposedC: s.exposedC },
    estimatedRho: estimatedRho(s, metricConfig),
    rhoEstimator: metricConfig.control === 'concurrent' ? 'mantel_haenszel' : 'observed_over_baseline',
    pValue: alwaysValidPValue(s.maxLogLambda),
    lambda: Math.exp(s.logLambda),
    logLambda: s.logLambda,
    cusum: s.cusum,
    alpha,
    configHash: cachedConfigHash(config),
    detectorVersion: DETECTOR_VERSION,
  };
}

/**
 * One evaluation: fold ONE bucket's inputs into the running state and decide.
 * Precedence: data unhealthy (pause, never roll back) > FAIL > inconclusive hold > warn > PASS.
 */
export function evaluate(previous: GuardState, inputs: BucketInputs, config: GuardConfig): Evaluation {
  const thresholds = thresholdsFor(config);
  const at = inputs.bucketStart + config.bucketMs;
  const { state: health, verdict } = assessHealth(previous.health, inputs, config);
  const base: GuardState = {
    ...previous,
    sequence: previous.sequence + 1,
    startedAt: previous.startedAt ?? inputs.bucketStart,
    health,
  };

  let state = base;
  const traces: SegmentTrace[] = [];
  let sampleRatio: DecisionRecord['sampleRatio'] = { chiSquare: null, pValue: null };
  // Unhealthy buckets are kept out of every statistic: missing U data would otherwise count as
  // evidence that U is healthy (towards PASS) or, once it trickles in late, against it.
  if (verdict.healthy) {
    const metrics: GuardState['metrics'] = {};
    for (const metric of enabledMetrics(config)) {
      const segments: Record<string, SegmentState> = {};
      for (const segment of guardSegments(config)) {
        const prior = previous.metrics[metric]?.[segment] ?? createSegmentState(config);
        const input = inputs.metrics[metric]?.[segment];
        const { state: next, trace } = updateSegment(prior, input, metric, segment, config, thresholds);
        segments[segment] = next;
        traces.push(trace);
      }
      metrics[metric] = segments;
    }
    const srm = updateSampleRatio(previous.sampleRatio, inputs.percent, inputs.traffic);
    sampleRatio = { chiSquare: srm.chiSquare, pValue: srm.pValue };
    state = { ...base, metrics, sampleRatio: srm.state };
  }

  const decision = decide(state, traces, verdict, sampleRatio, inputs, at, config, thresholds.segments);
  if (decision.kind === 'fail' && state.failure === null && decision.trigger && decision.evidence) {
    state = { ...state, failure: { at, trigger: decision.trigger, evidence: decision.evidence } };
  }
  if (decision.kind === 'pass') state = { ...state, lastPassAt: at };

  const record: DecisionRecord = {
    detectorVersion: DETECTOR_VERSION,
    configHash: cachedConfigHash(config),
    sequence: state.sequence,
    inputs,
    thresholds: {
      segments: thresholds.segments,
      logFail: thresholds.logFail,
      logWarn: thresholds.logWarn,
      logPass: thresholds.logPass,
      cusum: thresholds.cusum,
      minFailingDevices: thresholds.minFailingDevices,
    },
    health: { healthy: verdict.healthy, reason: verdict.reason, silentSince: verdict.silentSince, silentExpected: verdict.silentExpected },
    sampleRatio,
    segments: traces,
    decision,
  };
  return { state, decision, record };
}

function decide(
  state: GuardState,
  traces: SegmentTrace[],
  verdict: HealthVerdict,
  sampleRatio: DecisionRecord['sampleRatio'],
  inputs: BucketInputs,
  at: number,
  config: GuardConfig,
  segmentCount: number,
): Decision {
  const alpha = config.alphaFail / segmentCount;
  if (state.failure) {
    const { trigger, evidence } = state.failure;
    const action = trigger.metric ? config.metrics[trigger.metric].policy : 'rollback';
    return { kind: 'fail', action, at, trigger, evidence, reason: 'failed earlier in this test; a human resume starts a fresh test' };
  }
  if (!verdict.healthy) {
    const detail = verdict.reason === 'ingestion_lag' ? `ingestion lag ${inputs.health.ingestionLagMs} ms` : `no device reported on U while ${verdict.silentExpected.toFixed(1)} were expected`;
    return { kind: 'pause_data', action: 'pause', at, trigger: { metric: null, segment: null, detector: 'data_health' }, evidence: null, reason: `data unhealthy: ${detail}` };
  }

  const failing = traces.filter((t) => t.fired.some((d) => FAIL_DETECTORS.includes(d)));
  // A rollback-policy metric wins over a pause-policy one: the stronger protection applies.
  const chosen = failing.find((t) => config.metrics[t.metric].policy === 'rollback') ?? failing[0];
  if (chosen) {
    const detector = FAIL_DETECTORS.find((d) => chosen.fired.includes(d)) ?? 'sprt';
    const segmentState = state.metrics[chosen.metric]?.[chosen.segment];
    const evidence = segmentState ? buildEvidence(chosen.metric, chosen.segment, segmentState, config, alpha) : null;
    return {
      kind: 'fail',
      action: config.metrics[chosen.metric].policy,
      at,
      trigger: { metric: chosen.metric, segment: chosen.segment, detector },
      evidence,
      reason: `${chosen.metric} regressed on ${chosen.segment} (${detector})`,
    };
  }

  const allPass = traces.length > 0 && traces.every((t) => t.fired.includes('pass'));
  const srmMismatch = sampleRatio.pValue !== null && sampleRatio.pValue < config.sampleRatio.pValue;
  const clockStart = state.lastPassAt ?? state.startedAt ?? inputs.bucketStart;
  if (!allPass && at - clockStart >= config.inconclusiveMs) {
    return { kind: 'hold_inconclusive', action: 'hold', at, trigger: { metric: null, segment: null, detector: 'inconclusive' }, evidence: null, reason: 'no PASS within the inconclusive window' };
  }
  const warned = traces.find((t) => t.fired.includes('warning'));
  if (warned || srmMismatch) {
    const trigger: Trigger = warned
      ? { metric: warned.metric, segment: warned.segment, detector: 'warning' }
      : { metric: null, segment: null, detector: 'sample_ratio' };
    const segmentState = warned ? state.metrics[warned.metric]?.[warned.segment] : undefined;
    const evidence = warned && segmentState ? buildEvidence(warned.metric, warned.segment, segmentState, config, config.alphaWarn / segmentCount) : null;
    const reason = warned ? `${warned.metric} on ${warned.segment} crossed the warning tier` : `sample-ratio mismatch (p = ${sampleRatio.pValue})`;
    return { kind: 'warn', action: 'notify', at, trigger, evidence, reason };
  }
  if (allPass && at - inputs.stepStartedAt >= config.pass.minBakeMs) {
    return { kind: 'pass', action: 'advance', at, trigger: { metric: null, segment: null, detector: 'pass' }, evidence: null, reason: 'every metric passed (ρ < 1.5) after the bake time' };
  }
  return { kind: 'continue', action: 'none', at, trigger: null, evidence: null, reason: 'no decision yet' };
}
