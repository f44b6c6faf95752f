import type { GuardConfig } from './guard-config.js';
import type { BucketInputs, HealthState } from './guard-types.js';

export interface HealthVerdict {
  healthy: boolean;
  reason: 'ingestion_lag' | 'telemetry_silence' | null;
  silentSince: number | null;
  silentExpected: number;
}

export function createHealthState(): HealthState {
  return { rateReporting: 0, rateShare: 0, silentSince: null, silentExpected: 0 };
}

/**
 * Data health for one bucket. Unhealthy means the counts cannot be trusted in either direction, so
 * the guard pauses and never rolls back on them.
 *
 * "No events while > 20 are expected": counted in reporting devices, because a device sends its
 * events in a burst (20 expected events would be ~5 devices, and a silence that long is routine
 * for a quiet rollout). U's reporting devices per unit of offered share are tracked with an
 * exponential moving average over all buckets (zeros included, so quiet low-traffic apps are not
 * over-expected), and a run of buckets without a single U report accumulates what that rate
 * predicted for the run.
 */
export function assessHealth(
  previous: HealthState,
  inputs: BucketInputs,
  config: GuardConfig,
): { state: HealthState; verdict: HealthVerdict } {
  const { maxIngestionLagMs, silentExpectedDevices, rateHalfLifeBuckets } = config.dataHealth;
  const share = Math.min(Math.max(inputs.percent, 0), 100) / 100;
  const eventsPerShare = previous.rateShare > 0 ? previous.rateReporting / previous.rateShare : 0;
  const expected = eventsPerShare * share;

  const silent = inputs.health.reportingU === 0;
  const silentExpected = silent ? previous.silentExpected + expected : 0;
  const silentSince = silent ? (previous.silentSince ?? inputs.bucketStart) : null;
  const silenceTripped = silentExpected > silentExpectedDevices;

  // Freeze the rate while the silence is already judged a fault, so the gap cannot teach the
  // estimate that silence is normal.
  const decay = Math.pow(2, -1 / rateHalfLifeBuckets);
  const state: HealthState = silenceTripped
    ? { ...previous, silentSince, silentExpected }
    : {
        rateReporting: previous.rateReporting * decay + inputs.health.reportingU,
        rateShare: previous.rateShare * decay + share,
        silentSince,
        silentExpected,
      };

  let reason: HealthVerdict['reason'] = null;
  if (inputs.health.ingestionLagMs > maxIngestionLagMs) reason = 'ingestion_lag';
  else if (silenceTripped) reason = 'telemetry_silence';
  return { state, verdict: { healthy: reason === null, reason, silentSince, silentExpected } };
}
