import { BucketAssembler } from '../bucket-assembler.js';
import type { GuardConfig } from '../guard-config.js';
import type { CounterIncrement } from '../../metrics/device-counting.js';
import { GuardDriver } from './guard-driver.js';
import type { RunOutcome } from './guard-driver.js';
import type { Rng } from './prng.js';
import type { Scenario } from './scenario.js';
import { MINUTE_MS, VERSION_C, VERSION_U, failureRate, inTelemetryGap, stepAt } from './world.js';

/**
 * Aggregate-level run for crash_rate without device faults. Every arriving device is active for
 * its minute only, so device-level counting would yield exactly one exposure per device and one
 * failure per crashing device — the same numbers drawn here directly:
 * N ~ Poisson(dpm·share), n_U ~ Binomial(N, percent), x ~ Binomial(n, rate).
 * The counts still go through the production assembler and evaluator.
 */
export function runAggregate(scenario: Scenario, config: GuardConfig, rng: Rng, driver: GuardDriver = new GuardDriver(config)): RunOutcome {
  const assembler = new BucketAssembler({ config, versionU: VERSION_U, versionC: VERSION_C });
  for (let minute = 0; minute < scenario.horizonMinutes; minute += 1) {
    const bucketStart = minute * MINUTE_MS;
    const step = stepAt(scenario, minute);
    const gap = inTelemetryGap(scenario, bucketStart);
    const increments: CounterIncrement[] = [];
    for (const [platform, share] of Object.entries(scenario.platforms)) {
      const arrivals = rng.poisson(scenario.devicesPerMinute * share);
      const onU = rng.binomial(arrivals, step.percent / 100);
      const onC = arrivals - onU;
      const failU = rng.binomial(onU, failureRate(scenario, 'U', platform, minute));
      const failC = rng.binomial(onC, failureRate(scenario, 'C', platform, minute));
      // One app_ready per active device plus one crash per failing device.
      if (!gap) assembler.recordReporting(VERSION_U, onU + failU);
      assembler.recordReporting(VERSION_C, onC + failC);
      const base = { metric: scenario.metric, platform, bucketStart };
      if (!gap) increments.push({ ...base, version: VERSION_U, exposed: onU, failing: failU, newFailingDevice: failU });
      increments.push({ ...base, version: VERSION_C, exposed: onC, failing: failC, newFailingDevice: failC });
    }
    assembler.addIncrements(increments);
    const inputs = assembler.close(bucketStart, { percent: step.percent, stepStartedAt: step.atMinute * MINUTE_MS, ingestionLagMs: 0 });
    if (driver.step(inputs).decision.kind === 'fail') break;
  }
  return driver.outcome;
}
