import type { CounterIncrement } from '../metrics/device-counting.js';
import type { GuardConfig, GuardMetric } from './guard-config.js';
import { enabledMetrics } from './guard-config.js';
import type { BucketInputs, SegmentInput } from './guard-types.js';

type Role = 'U' | 'C';

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
  private readonly tallies = new Map<number, Map<string, Tally>>();
  private carried = new Map<string, Tally>();
  private closedThrough = Number.NEGATIVE_INFINITY;
  private eventsU = 0;
  private eventsC = 0;
  private droppedLate = 0;

  constructor(private readonly options: AssemblerOptions) {}

  /** Counts a non-duplicate raw event as received now (for the data-health check). */
  recordEvent(version: string): void {
    if (version === this.options.versionU) this.eventsU += 1;
    else if (version === this.options.versionC) this.eventsC += 1;
  }

  get lateIncrementsDropped(): number {
    return this.droppedLate;
  }

  addIncrements(increments: readonly CounterIncrement[]): void {
    for (const inc of increments) {
      const role = this.roleOf(inc.version);
      if (role === null || !this.options.config.metrics[inc.metric]?.enabled) continue;
      const key = `${inc.metric}|${role}|${inc.platform}`;
      let target: Map<string, Tally>;
      if (inc.bucketStart <= this.closedThrough) {
        if (this.options.config.metrics[inc.metric].control === 'concurrent') {
          this.droppedLate += 1;
          continue;
        }
        target = this.carried;
      } else {
        target = this.tallies.get(inc.bucketStart) ?? new Map<string, Tally>();
        this.tallies.set(inc.bucketStart, target);
      }
      const tally = target.get(key) ?? { failing: 0, exposed: 0, newFailing: 0 };
      tally.failing += inc.failing;
      tally.exposed += inc.exposed;
      tally.newFailing += inc.newFailingDevice;
      target.set(key, tally);
    }
  }

  /** Closes `bucketStart` (and anything older still open) and returns the guard's inputs for it. */
  close(bucketStart: number, context: CloseContext): BucketInputs {
    const merged = new Map<string, Tally>(this.carried);
    this.carried = new Map();
    for (const [start, tally] of [...this.tallies]) {
      if (start > bucketStart) continue;
      for (const [key, t] of tally) {
        const m = merged.get(key) ?? { failing: 0, exposed: 0, newFailing: 0 };
        merged.set(key, { failing: m.failing + t.failing, exposed: m.exposed + t.exposed, newFailing: m.newFailing + t.newFailing });
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
      health: { ingestionLagMs: context.ingestionLagMs, eventsU: this.eventsU, eventsC: this.eventsC },
      metrics,
    };
    if (traffic) inputs.traffic = traffic;
    this.eventsU = 0;
    this.eventsC = 0;
    return inputs;
  }

  private roleOf(version: string): Role | null {
    if (version === this.options.versionU) return 'U';
    if (version === this.options.versionC) return 'C';
    return null;
  }

  private sum(merged: Map<string, Tally>, metric: GuardMetric, role: Role, platforms: string[] | null): Tally {
    const total: Tally = { failing: 0, exposed: 0, newFailing: 0 };
    const prefix = `${metric}|${role}|`;
    for (const [key, t] of merged) {
      if (!key.startsWith(prefix)) continue;
      if (platforms && !platforms.includes(key.slice(prefix.length))) continue;
      total.failing += t.failing;
      total.exposed += t.exposed;
      total.newFailing += t.newFailing;
    }
    return total;
  }

  private segmentInput(merged: Map<string, Tally>, metric: GuardMetric, platforms: string[] | null, segment: string): SegmentInput {
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

  private trafficFrom(merged: Map<string, Tally>): CloseContext['traffic'] {
    const u = this.sum(merged, 'crash_rate', 'U', null);
    const c = this.sum(merged, 'crash_rate', 'C', null);
    return u.exposed + c.exposed > 0 ? { devicesU: u.exposed, devicesC: c.exposed } : undefined;
  }
}
