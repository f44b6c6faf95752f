import type { CounterIncrement } from '../metrics/device-counting.js';
import type { GuardConfig, GuardMetric } from './guard-config.js';
import { enabledMetrics } from './guard-config.js';
import type { BucketInputs, SegmentInput } from './guard-types.js';

type Role = 'U' | 'C';

/** Tallies of one bucket: platform → [metric × role] slots, no composite string keys on the hot path. */
type BucketTally = Map<string, (Tally | undefined)[]>;
const METRIC_INDEX: Record<GuardMetric, number> = { install_failure: 0, launch_failure: 1, crash_rate: 2 };
const slotOf = (metric: GuardMetric, role: Role): number => METRIC_INDEX[metric] * 2 + (role === 'U' ? 0 : 1);

interface Tally {
  failing: number;
  exposed: number;
  newFailing: number;
}

export interface AssemblerOptions {
  config: GuardConfig;
  versionU: string;
  versionC: string;
  /** λ0 per metric and segment for historical-control metrics; fixed for the whole test. */
  baselineRates?: Partial<Record<GuardMetric, Record<string, number | null>>>;
}

export interface CloseContext {
  percent: number;
  stepStartedAt: number;
  ingestionLagMs: number;
  /** Active devices on U and C; derived from crash_rate exposures when omitted. */
  traffic?: { devicesU: number; devicesC: number };
}

/**
 * Collects counter increments by bucket and hands the guard one closed bucket at a time.
 *
 * Increments for a bucket that is already closed (late events, the 10-minute launch rule) are
 * handled by control kind: for the one-sample form they join the next closed bucket — crediting a
 * failure later than its exposure only lowers Σℓ, so the test stays valid; for the concurrent form
 * they are dropped, because moving them would mix strata with different U shares and break the
 * per-bucket conditioning that cancels shared outages. Both arms lose late events alike.
 */
export class BucketAssembler {
  private readonly tallies = new Map<number, BucketTally>();
  private carried: BucketTally = new Map();
  private closedThrough = Number.NEGATIVE_INFINITY;
  private reportingU = { keys: new Set<string>(), count: 0 };
  private reportingC = { keys: new Set<string>(), count: 0 };
  private droppedLate = 0;

  constructor(private readonly options: AssemblerOptions) {}

  /**
   * Counts the devices reporting about U or C in this bucket, for the data-health check. Pass a
   * device key (counted once per bucket) or an already-distinct device count. Devices, not events:
   * one device sends its events in a burst, so counting events would make ordinary quiet spells
   * of a low-traffic rollout look like lost telemetry.
   */
  recordReporting(version: string, devices: string | number): void {
    const arm = version === this.options.versionU ? this.reportingU : version === this.options.versionC ? this.reportingC : null;
    if (!arm) return;
    if (typeof devices === 'number') arm.count += devices;
    else arm.keys.add(devices);
  }

  get lateIncrementsDropped(): number {
    return this.droppedLate;
  }

  addIncrements(increments: readonly CounterIncrement[]): void {
    for (const inc of increments) {
      const role = this.roleOf(inc.version);
      if (role === null || !this.options.config.metrics[inc.metric]?.enabled) continue;
      let target: BucketTally;
      if (inc.bucketStart <= this.closedThrough) {
        if (this.options.config.metrics[inc.metric].control === 'concurrent') {
          this.droppedLate += 1;
          continue;
        }
        target = this.carried;
      } else {
        target = this.tallies.get(inc.bucketStart) ?? new Map();
        this.tallies.set(inc.bucketStart, target);
      }
      addTo(target, inc.platform, slotOf(inc.metric, role), inc.failing, inc.exposed, inc.newFailingDevice);
    }
  }

  /** Closes `bucketStart` (and anything older still open) and returns the guard's inputs for it. */
  close(bucketStart: number, context: CloseContext): BucketInputs {
    const merged: BucketTally = this.carried;
    this.carried = new Map();
    for (const [start, tally] of [...this.tallies]) {
      if (start > bucketStart) continue;
      for (const [platform, slots] of tally) {
        slots.forEach((t, slot) => {
          if (t) addTo(merged, platform, slot, t.failing, t.exposed, t.newFailing);
        });
      }
      this.tallies.delete(start);
    }
    this.closedThrough = Math.max(this.closedThrough, bucketStart);

    const { config } = this.options;
    const metrics: BucketInputs['metrics'] = {};
    for (const metric of enabledMetrics(config)) {
      const bySegment: Record<string, SegmentInput> = {};
      for (const platform of config.platforms) bySegment[platform] = this.segmentInput(merged, metric, [platform], platform);
      const all = this.segmentInput(merged, metric, null, 'all');
      if (config.platforms.length > 1) metrics[metric] = { ...bySegment, all };
      else metrics[metric] = { all };
    }
    const traffic = context.traffic ?? this.trafficFrom(merged);
    const inputs: BucketInputs = {
      bucketStart,
      percent: context.percent,
      stepStartedAt: context.stepStartedAt,
      health: {
        ingestionLagMs: context.ingestionLagMs,
        reportingU: this.reportingU.keys.size + this.reportingU.count,
        reportingC: this.reportingC.keys.size + this.reportingC.count,
      },
      metrics,
    };
    if (traffic) inputs.traffic = traffic;
    this.reportingU = { keys: new Set<string>(), count: 0 };
    this.reportingC = { keys: new Set<string>(), count: 0 };
    return inputs;
  }

  private roleOf(version: string): Role | null {
    if (version === this.options.versionU) return 'U';
    if (version === this.options.versionC) return 'C';
    return null;
  }

  private sum(merged: BucketTally, metric: GuardMetric, role: Role, platforms: string[] | null): Tally {
    const total: Tally = { failing: 0, exposed: 0, newFailing: 0 };
    const slot = slotOf(metric, role);
    for (const [platform, slots] of merged) {
      if (platforms && !platforms.includes(platform)) continue;
      const t = slots[slot];
      if (!t) continue;
      total.failing += t.failing;
      total.exposed += t.exposed;
      total.newFailing += t.newFailing;
    }
    return total;
  }

  private segmentInput(merged: BucketTally, metric: GuardMetric, platforms: string[] | null, segment: string): SegmentInput {
    const u = this.sum(merged, metric, 'U', platforms);
    const input: SegmentInput = { treatment: { failing: u.failing, exposed: u.exposed, newFailingDevices: u.newFailing } };
    if (this.options.config.metrics[metric].control === 'concurrent') {
      const c = this.sum(merged, metric, 'C', platforms);
      input.control = { failing: c.failing, exposed: c.exposed };
    } else {
      input.baselineRate = this.options.baselineRates?.[metric]?.[segment] ?? null;
    }
    return input;
  }

  private trafficFrom(merged: BucketTally): CloseContext['traffic'] {
    const u = this.sum(merged, 'crash_rate', 'U', null);
    const c = this.sum(merged, 'crash_rate', 'C', null);
    return u.exposed + c.exposed > 0 ? { devicesU: u.exposed, devicesC: c.exposed } : undefined;
  }
}

function addTo(target: BucketTally, platform: string, slot: number, failing: number, exposed: number, newFailing: number): void {
  let slots = target.get(platform);
  if (!slots) {
    slots = [];
    target.set(platform, slots);
  }
  const t = slots[slot];
  if (t) {
    t.failing += failing;
    t.exposed += exposed;
    t.newFailing += newFailing;
  } else slots[slot] = { failing, exposed, newFailing };
}
