import { BucketAssembler } from '../bucket-assembler.js';
import type { GuardConfig, GuardMetric } from '../guard-config.js';
import { DeviceCounter } from '../../metrics/device-counting.js';
import type { CountableEvent, EventType } from '../../metrics/device-counting.js';
import type { Emit } from './device-events.js';
import { emitActiveDevice, emitInstall, emitLaunch } from './device-events.js';
import { GuardDriver } from './guard-driver.js';
import type { RunOutcome } from './guard-driver.js';
import type { Rng } from './prng.js';
import type { Scenario } from './scenario.js';
import { MINUTE_MS, VERSION_C as C, VERSION_U as U, failureRate, inTelemetryGap, stepAt } from './world.js';

// Local copies: the hot loop should not go through module bindings for every event.
const VERSION_U: string = U;
const VERSION_C: string = C;

const PRUNE_EVERY_MINUTES = 10;
const DUPLICATE_DELAY_MS = 5_000;
const APP_READY_TIMEOUT_MS = 10 * MINUTE_MS;

/**
 * Device-level run: every device emits the events of its metric, faults act on those events
 * (duplicates, late delivery, crash loops, a telemetry gap), and everything is delivered minute by
 * minute through the production DeviceCounter, BucketAssembler and evaluator. Bucket m is closed
 * at the end of minute m, the same moment production would run the guard for it.
 *
 * For the one-sample metrics only devices offered U are simulated event by event (C's devices
 * matter only as traffic for the sample-ratio check and through λ0). Crash-looping devices are put
 * on U for the whole run: the worst case for a false alarm, since on C they would only make U
 * look better.
 */
export function runDeviceLevel(
  scenario: Scenario,
  config: GuardConfig,
  rng: Rng,
  baselineRates: Partial<Record<GuardMetric, Record<string, number | null>>>,
  driver: GuardDriver = new GuardDriver(config),
  everyDevice = false,
): RunOutcome {
  // Memory windows sized to this world's worst delivery delay (production keeps 1 h / 2 h): long
  // enough that no duplicate or late event outlives what the counter remembers of it.
  const { faults } = scenario;
  const lateMs = faults.lateMinutes * MINUTE_MS;
  const counter = new DeviceCounter({
    bucketMs: config.bucketMs,
    appReadyTimeoutMs: APP_READY_TIMEOUT_MS,
    deliveryGraceMs: config.dataHealth.maxIngestionLagMs,
    dedupeWindowMs: lateMs + 10 * MINUTE_MS,
    retentionMs: lateMs + APP_READY_TIMEOUT_MS + config.dataHealth.maxIngestionLagMs + 10 * MINUTE_MS,
  });
  const assembler = new BucketAssembler({ config, versionU: VERSION_U, versionC: VERSION_C, baselineRates });
  const queue: (CountableEvent[] | undefined)[] = [];
  let nextEvent = 0;
  let nextPid = 0;

  const deliverAt = (event: CountableEvent, at: number): void => {
    const onU = event.version === VERSION_U || event.fromVersion === VERSION_U;
    if (onU && inTelemetryGap(scenario, at)) return;
    const minute = Math.floor(at / MINUTE_MS);
    if (minute >= scenario.horizonMinutes) return;
    (queue[minute] ??= []).push(event);
  };
  const emit: Emit = (type: EventType, pid, version, platform, occurredAt, fromVersion) => {
    const event: CountableEvent = { pid, type, version, platform, occurredAt, eventId: `e${nextEvent++}` };
    if (fromVersion !== undefined) event.fromVersion = fromVersion;
    const at = faults.lateFraction > 0 && rng.bernoulli(faults.lateFraction) ? occurredAt + faults.lateMinutes * MINUTE_MS : occurredAt;
    deliverAt(event, at);
    if (faults.duplicateFraction > 0 && rng.bernoulli(faults.duplicateFraction)) deliverAt(event, at + Math.floor(rng.next() * DUPLICATE_DELAY_MS));
  };

  const platforms = Object.entries(scenario.platforms);
  // Without per-event faults, an ordinary crash_rate device (fresh each minute, both events inside
  // its minute) always counts as exactly one exposure plus one failure if it crashed — what the
  // counter's unit tests pin down. Those devices are then tallied directly and only the
  // crash-looping devices go event by event through the counter; `everyDevice` turns this off.
  const tallyOrdinary = !everyDevice && scenario.metric === 'crash_rate' && faults.duplicateFraction === 0 && faults.lateFraction === 0;
  const loopers = Array.from({ length: faults.crashLoopDevices }, (_, i) => ({ pid: `loop${i}`, platform: pickPlatform(platforms, rng.next()) }));

  for (let minute = 0; minute < scenario.horizonMinutes; minute += 1) {
    const minuteStart = minute * MINUTE_MS;
    const now = minuteStart + MINUTE_MS;
    const step = stepAt(scenario, minute);
    const share = step.percent / 100;
    let devicesU = 0;
    let devicesC = 0;
    for (const [platform, platformShare] of platforms) {
      const arrivals = rng.poisson(scenario.devicesPerMinute * platformShare);
      const rateU = failureRate(scenario, 'U', platform, minute);
      if (scenario.metric === 'crash_rate') {
        const rateC = failureRate(scenario, 'C', platform, minute);
        if (tallyOrdinary) {
          tallyActiveDevices(assembler, rng, arrivals, share, platform, minuteStart, rateU, rateC, inTelemetryGap(scenario, minuteStart));
          continue;
        }
        for (let i = 0; i < arrivals; i += 1) {
          const onU = rng.bernoulli(share);
          emitActiveDevice(emit, rng, `d${nextPid++}`, onU ? VERSION_U : VERSION_C, platform, minuteStart, onU ? rateU : rateC);
        }
        continue;
      }
      const onU = rng.binomial(arrivals, share);
      devicesU += onU;
      devicesC += arrivals - onU;
      const emitDevice = scenario.metric === 'launch_failure' ? emitLaunch : emitInstall;
      for (let i = 0; i < onU; i += 1) emitDevice(emit, rng, `d${nextPid++}`, platform, minuteStart, rateU);
    }
    for (const looper of loopers) {
      const crashes = rng.poisson(faults.crashLoopEventsPerMinute);
      for (let i = 0; i < crashes; i += 1) emit('crash', looper.pid, VERSION_U, looper.platform, minuteStart + Math.floor(rng.next() * MINUTE_MS));
    }

    for (const event of queue[minute] ?? []) {
      const { duplicate, increments } = counter.add(event);
      if (duplicate) continue;
      assembler.recordReporting(event.version === VERSION_U || event.fromVersion === VERSION_U ? VERSION_U : event.version, event.pid);
      assembler.addIncrements(increments);
    }
    queue[minute] = undefined;
    assembler.addIncrements(counter.expireMissingAppReady(now));

    const traffic = scenario.metric === 'crash_rate' ? undefined : { devicesU: inTelemetryGap(scenario, minuteStart) ? 0 : devicesU, devicesC };
    const context = { percent: step.percent, stepStartedAt: step.atMinute * MINUTE_MS, ingestionLagMs: 0, ...(traffic ? { traffic } : {}) };
    const { decision, record } = driver.step(assembler.close(minuteStart, context));
    if (decision.kind === 'fail') break;
    if (decision.kind === 'pause_data' && record.health.silentSince !== null) {
      // U's telemetry was missing: launches installed from a timeout before the silence began can
      // no longer be judged by the absence of app_ready.
      counter.forgetPendingAppReady(record.health.silentSince - APP_READY_TIMEOUT_MS, now);
    }
    if (minute % PRUNE_EVERY_MINUTES === 0) counter.prune(now);
  }
  return driver.outcome;
}

function tallyActiveDevices(
  assembler: BucketAssembler,
  rng: Rng,
  arrivals: number,
  share: number,
  platform: string,
  bucketStart: number,
  rateU: number,
  rateC: number,
  gap: boolean,
): void {
  const onU = rng.binomial(arrivals, share);
  const onC = arrivals - onU;
  const failU = rng.binomial(onU, rateU);
  const failC = rng.binomial(onC, rateC);
  const base = { metric: 'crash_rate' as const, platform, bucketStart };
  if (!gap) {
    assembler.recordReporting(VERSION_U, onU + failU);
    assembler.addIncrements([{ ...base, version: VERSION_U, exposed: onU, failing: failU, newFailingDevice: failU }]);
  }
  assembler.recordReporting(VERSION_C, onC + failC);
  assembler.addIncrements([{ ...base, version: VERSION_C, exposed: onC, failing: failC, newFailingDevice: failC }]);
}

function pickPlatform(platforms: [string, number][], u: number): string {
  let acc = 0;
  for (const [platform, share] of platforms) {
    acc += share;
    if (u < acc) return platform;
  }
  return platforms[platforms.length - 1]?.[0] ?? 'android';
}
