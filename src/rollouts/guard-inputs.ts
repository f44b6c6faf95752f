import { BucketAssembler } from '../guard/bucket-assembler.js';
import type { GuardConfig, GuardMetric } from '../guard/guard-config.js';
import type { BucketInputs } from '../guard/guard-types.js';
import { DeviceCounter } from '../metrics/device-counting.js';
import type { ExposureStore } from './exposure-store.js';
import type { GuardEvent, GuardEventSource } from './guard-event-source.js';

export const APP_READY_TIMEOUT_MS = 10 * 60_000;
/** Events that occurred this long before their bucket's evaluation are still counted (as late). */
const LATE_LOOKBACK_MS = 60 * 60_000;
/** Ingest accepts device clocks this far ahead; such events wait in their (future) bucket. */
const FUTURE_MS = 5 * 60_000;
/**
 * `receivedAt` is stamped before the write commits, so an event can become visible after the
 * evaluation whose window it belongs to. Each load reaches back this far; the counter drops what
 * was already fed (event ids), so nothing counts twice and a slow write is counted one bucket late
 * instead of never.
 */
const OVERLAP_MS = 15_000;
const MAX_SESSIONS = 200;

export type BaselineRates = Partial<Record<GuardMetric, Record<string, number | null>>>;

/** What one guard test counts: the rollout's versions on its channel, from the test's start. */
export interface CountingScope {
  rolloutId: string;
  testId: number;
  appId: string;
  channel: string;
  versionU: string;
  versionC: string;
  testStartedAt: number;
  config: GuardConfig;
  baselineRates: BaselineRates;
}

export interface BucketContext {
  percent: number;
  stepStartedAt: number;
  traffic?: { devicesU: number; devicesC: number };
}

/** A bucket this test already evaluated, and the telemetry gap its decision reported (pause_data). */
export interface EvaluatedBucket {
  bucketStart: number;
  silentSince: number | null;
}

interface Session {
  counter: DeviceCounter;
  assembler: BucketAssembler;
  /** Events received before this instant have been fed. */
  fedThrough: number;
  lastClosed: number;
}

/**
 * Builds a bucket's guard inputs from raw events with the production counting core, exactly as the
 * simulation does: events are fed in arrival order, the 10-minute launch rule runs at the cut-off,
 * and the bucket is closed. Events count only for pids the update check saw for this rollout.
 *
 * The counting state lives in memory per (rollout, test). When this process does not hold it (a
 * restart, or another worker evaluated the previous bucket) it is rebuilt by replaying the test's
 * events and closing the buckets the decision log says were evaluated, so every worker arrives at the
 * same state.
 */
export class GuardInputLoader {
  private readonly sessions = new Map<string, Session>();

  constructor(
    private readonly events: GuardEventSource,
    private readonly exposures: ExposureStore,
    private readonly cutoffOf: (bucketStart: number) => number,
  ) {}

  async inputsFor(
    scope: CountingScope,
    bucketStart: number,
    context: BucketContext,
    previousBucket: number | null,
    evaluatedBefore: () => Promise<EvaluatedBucket[]>,
  ): Promise<BucketInputs> {
    const key = `${scope.rolloutId}:${scope.testId}`;
    let session = this.sessions.get(key);
    // Reuse only a state that has closed exactly the buckets the log says were evaluated so far.
    if (!session || session.lastClosed !== (previousBucket ?? Number.NEGATIVE_INFINITY)) {
      session = await this.rebuild(scope, (await evaluatedBefore()).filter((b) => b.bucketStart < bucketStart));
    }
    this.sessions.delete(key);
    this.sessions.set(key, session);
    this.evictOldest();

    const cutoff = this.cutoffOf(bucketStart);
    const from = Math.max(session.fedThrough - OVERLAP_MS, firstBucketOf(scope));
    const fresh = await this.load(scope, from, cutoff, bucketStart - LATE_LOOKBACK_MS, cutoff + FUTURE_MS);
    this.feed(session, scope, fresh, bucketStart);
    session.fedThrough = cutoff;
    return this.close(session, bucketStart, cutoff, context);
  }

  /** Forgets a test's counting state (the rollout left the active state). */
  drop(rolloutId: string, testId: number): void {
    this.sessions.delete(`${rolloutId}:${testId}`);
  }

  /** The sim's rule: after a telemetry gap, missing app_ready events say nothing about launches. */
  forgetSilentLaunches(rolloutId: string, testId: number, silentSince: number, cutoff: number): void {
    this.sessions.get(`${rolloutId}:${testId}`)?.counter.forgetPendingAppReady(silentSince - APP_READY_TIMEOUT_MS, cutoff);
  }

  private async rebuild(scope: CountingScope, closed: EvaluatedBucket[]): Promise<Session> {
    const bucketMs = scope.config.bucketMs;
    const firstBucket = firstBucketOf(scope);
    const session: Session = {
      counter: new DeviceCounter({ bucketMs, appReadyTimeoutMs: APP_READY_TIMEOUT_MS, deliveryGraceMs: scope.config.dataHealth.maxIngestionLagMs }),
      assembler: new BucketAssembler({ config: scope.config, versionU: scope.versionU, versionC: scope.versionC, baselineRates: scope.baselineRates }),
      fedThrough: firstBucket,
      lastClosed: Number.NEGATIVE_INFINITY,
    };
    const ordered = [...closed].sort((a, b) => a.bucketStart - b.bucketStart);
    const last = ordered.at(-1)?.bucketStart;
    if (last === undefined) return session;
    const history = await this.load(scope, firstBucket, this.cutoffOf(last), firstBucket - LATE_LOOKBACK_MS, this.cutoffOf(last) + FUTURE_MS);
    let next = 0;
    let held: GuardEvent[] = [];
    for (const { bucketStart, silentSince } of ordered) {
      const cutoff = this.cutoffOf(bucketStart);
      const batch: GuardEvent[] = held;
      while (next < history.length && (history[next]?.receivedAt ?? Infinity) < cutoff) batch.push(history[next++] as GuardEvent);
      held = this.feed(session, scope, batch, bucketStart);
      session.fedThrough = cutoff;
      this.close(session, bucketStart, cutoff, { percent: 0, stepStartedAt: 0 });
      if (silentSince !== null) session.counter.forgetPendingAppReady(silentSince - APP_READY_TIMEOUT_MS, cutoff);
    }
    return session;
  }

  private async load(scope: CountingScope, receivedFrom: number, receivedTo: number, occurredFrom: number, occurredTo: number): Promise<GuardEvent[]> {
    if (receivedTo <= receivedFrom) return [];
    const events = await this.events.find({
      appId: scope.appId,
      channel: scope.channel,
      versions: [scope.versionU, scope.versionC],
      occurredFrom,
      occurredTo,
      receivedFrom,
      receivedTo,
    });
    const seen = await this.exposures.seen(scope.rolloutId, events.map((e) => e.pid));
    return events.filter((e) => seen.has(e.pid));
  }

  /**
   * Feeds events in arrival order and returns those held back: events that occurred after the bucket
   * being closed but arrived before its cut-off (the settle time) wait for the next evaluation, which
   * re-reads them through the overlap, so a bucket's events and its counts land in the same bucket.
   * Only events within the lookback of the bucket count.
   */
  private feed(session: Session, scope: CountingScope, events: readonly GuardEvent[], bucketStart: number): GuardEvent[] {
    const from = bucketStart - LATE_LOOKBACK_MS;
    const bucketEnd = bucketStart + scope.config.bucketMs;
    const cutoff = this.cutoffOf(bucketStart);
    const held: GuardEvent[] = [];
    for (const event of events) {
      if (event.occurredAt < from || event.occurredAt >= cutoff + FUTURE_MS) continue;
      if (event.occurredAt >= bucketEnd && event.occurredAt < cutoff) {
        held.push(event);
        continue;
      }
      const { duplicate, increments } = session.counter.add(event);
      if (duplicate) continue;
      const aboutU = event.version === scope.versionU || event.fromVersion === scope.versionU;
      session.assembler.recordReporting(aboutU ? scope.versionU : event.version, event.pid);
      session.assembler.addIncrements(increments);
    }
    return held;
  }

  private close(session: Session, bucketStart: number, cutoff: number, context: BucketContext): BucketInputs {
    session.assembler.addIncrements(session.counter.expireMissingAppReady(cutoff));
    session.lastClosed = bucketStart;
    const inputs = session.assembler.close(bucketStart, { ...context, ingestionLagMs: 0 });
    session.counter.prune(cutoff);
    return inputs;
  }

  private evictOldest(): void {
    while (this.sessions.size > MAX_SESSIONS) {
      const oldest = this.sessions.keys().next().value;
      if (oldest === undefined) return;
      this.sessions.delete(oldest);
    }
  }
}

function firstBucketOf(scope: CountingScope): number {
  return Math.floor(scope.testStartedAt / scope.config.bucketMs) * scope.config.bucketMs;
}
