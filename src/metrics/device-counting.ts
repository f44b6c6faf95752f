// Device-level counting: turns raw update events into per-(device, version, metric, bucket) counts.
// Pure and in-memory; the ingest pipeline and the guard simulation both feed it, so the guard is
// always measured on exactly the counts production computes.

export const EVENT_TYPES = ['download_started', 'download_completed', 'download_failed', 'installed', 'install_failed', 'app_ready', 'crash', 'rolled_back'] as const;
export type EventType = (typeof EVENT_TYPES)[number];
export type CountedMetric = 'install_failure' | 'launch_failure' | 'crash_rate';

export interface CountableEvent {
  pid: string;
  type: EventType;
  /** The bundle the event is about. */
  version: string;
  /** For `rolled_back`: the bundle rolled back from (falls back to `version`). */
  fromVersion?: string;
  platform: string;
  occurredAt: number;
  eventId: string;
}

/** Add these to the counters of (metric, version, platform, bucketStart). Each field is 0 or 1. */
export interface CounterIncrement {
  metric: CountedMetric;
  version: string;
  platform: string;
  bucketStart: number;
  exposed: number;
  failing: number;
  /** 1 the first time this device fails this metric on this version (the guard's distinct-device gate). */
  newFailingDevice: number;
}

export interface AddResult {
  duplicate: boolean;
  increments: CounterIncrement[];
}

export interface DeviceCounterOptions {
  bucketMs?: number;
  /** A launch without `app_ready` this long after `installed` is a launch failure. */
  appReadyTimeoutMs?: number;
  /** Extra wait before applying that rule, for `app_ready` events delivered late. */
  deliveryGraceMs?: number;
  /** Event ids are remembered at least this long. */
  dedupeWindowMs?: number;
  /** Per-device state untouched this long is dropped by `prune`. */
  retentionMs?: number;
}

/** What the counter remembers about one device on one version. A class keeps allocation cheap on the hot path. */
class DeviceVersion {
  lastTouched: number;
  crashExposed: number[] | null = null;
  crashFailed: number[] | null = null;
  /** Buckets of the current crash streak: a device crashing bucket after bucket is one failure. */
  streakFirst = Number.NaN;
  streakLast = Number.NaN;
  installedAt: number | null = null;
  appReadyAt: number | null = null;
  firstCrashAt: number | null = null;
  rolledBack = false;
  launchFailed = false;
  downloadBucket: number | null = null;
  downloadFailed = false;
  installFailureCounted = false;

  constructor(readonly pid: string, readonly version: string, readonly platform: string, at: number) {
    this.lastTouched = at;
  }
}

/** Records `bucket` in a small list of recent buckets; false when it was already there. */
function addBucket(list: number[] | null, bucket: number, oldest: number): number[] | false {
  if (list === null) return [bucket];
  if (list.includes(bucket)) return false;
  const kept = list.length > 8 ? list.filter((b) => b > oldest) : list;
  kept.push(bucket);
  return kept;
}

const MINUTE = 60_000;
const DUPLICATE: AddResult = Object.freeze({ duplicate: true, increments: Object.freeze([]) as unknown as CounterIncrement[] });

export class DeviceCounter {
  private readonly bucketMs: number;
  private readonly appReadyTimeoutMs: number;
  private readonly deliveryGraceMs: number;
  private readonly dedupeWindowMs: number;
  private readonly retentionMs: number;  // pid → its versions (usually one or two): avoids building a composite key string per event.
  private readonly devices = new Map<string, DeviceVersion[]>();
  private readonly everFailed = new Set<string>();
  private pendingLaunches: DeviceVersion[] = [];
  // Two generations of event ids: membership in either is a duplicate; rotating bounds memory.
  private recentIds = new Set<string>();
  private olderIds = new Set<string>();
  private generationStart: number | null = null;

  constructor(options: DeviceCounterOptions = {}) {
    ({
      bucketMs: this.bucketMs = MINUTE,
      appReadyTimeoutMs: this.appReadyTimeoutMs = 10 * MINUTE,
      deliveryGraceMs: this.deliveryGraceMs = 0,
      dedupeWindowMs: this.dedupeWindowMs = 60 * MINUTE,
      retentionMs: this.retentionMs = 120 * MINUTE,
    } = options);
  }

  bucketOf(at: number): number {
    return Math.floor(at / this.bucketMs) * this.bucketMs;
  }

  add(event: CountableEvent): AddResult {
    if (this.seen(event)) return DUPLICATE;
    const out: CounterIncrement[] = [];
    const version = event.type === 'rolled_back' ? (event.fromVersion ?? event.version) : event.version;
    const d = this.device(event.pid, version, event.platform, event.occurredAt);
    const bucket = this.bucketOf(event.occurredAt);
    switch (event.type) {
      case 'download_started':
        if (d.downloadBucket === null) {
          d.downloadBucket = bucket;
          this.emit(out, d, 'install_failure', bucket, 1, 0);
          if (d.downloadFailed) this.countInstallFailure(out, d);
        }
        break;
      case 'download_failed':
      case 'install_failed':
        d.downloadFailed = true;
        if (d.downloadBucket === null) {
          // A failure proves the download started even if that event never reached us.
          d.downloadBucket = bucket;
          this.emit(out, d, 'install_failure', bucket, 1, 0);
        }
        this.countInstallFailure(out, d);
        break;
      case 'installed':
        if (d.installedAt === null) {
          d.installedAt = event.occurredAt;
          this.emit(out, d, 'launch_failure', bucket, 1, 0);
          if (this.launchOutcomeIsFailure(d)) this.countLaunchFailure(out, d);
          else this.pendingLaunches.push(d);
        }
        break;
      case 'app_ready':
        d.appReadyAt = Math.min(d.appReadyAt ?? event.occurredAt, event.occurredAt);
        this.countActive(out, d, bucket);
        if (this.launchOutcomeIsFailure(d)) this.countLaunchFailure(out, d);
        break;
      case 'crash':
        d.firstCrashAt = Math.min(d.firstCrashAt ?? event.occurredAt, event.occurredAt);
        this.countActive(out, d, bucket);
        this.countCrash(out, d, bucket);
        if (this.launchOutcomeIsFailure(d)) this.countLaunchFailure(out, d);
        break;
      case 'rolled_back':
        d.rolledBack = true;
        if (this.launchOutcomeIsFailure(d)) this.countLaunchFailure(out, d);
        break;
      default:
        break;
    }
    return { duplicate: false, increments: out };
  }

  /**
   * Applies the "no app_ready within 10 min of installed" rule at `now`, which the caller supplies
   * so that the rule is evaluated late enough and deterministically. Failures land in the install
   * bucket, beside the exposure they belong to.
   */
  expireMissingAppReady(now: number): CounterIncrement[] {
    const out: CounterIncrement[] = [];
    const cutoff = now - this.appReadyTimeoutMs - this.deliveryGraceMs;
    const keep: DeviceVersion[] = [];
    for (const d of this.pendingLaunches) {
      if (d.launchFailed || d.installedAt === null) continue;
      const readyInTime = d.appReadyAt !== null && d.appReadyAt <= d.installedAt + this.appReadyTimeoutMs;
      if (readyInTime) continue;
      if (d.installedAt <= cutoff) this.countLaunchFailure(out, d);
      else keep.push(d);
    }
    this.pendingLaunches = keep;
    return out;
  }

  /**
   * Gives up on the launches installed in [from, to]: when U's telemetry was missing, a missing
   * `app_ready` says nothing about the launch. Returns how many watches were dropped.
   */
  forgetPendingAppReady(fromInstalledAt: number, toInstalledAt: number): number {
    const before = this.pendingLaunches.length;
    this.pendingLaunches = this.pendingLaunches.filter(
      (d) => d.installedAt === null || d.installedAt < fromInstalledAt || d.installedAt > toInstalledAt,
    );
    return before - this.pendingLaunches.length;
  }

  /** Drops device state untouched since `now − retention` (launches still awaiting the rule stay). */
  prune(now: number): void {
    const horizon = now - this.retentionMs;
    const pending = this.pendingLaunches.length > 0 ? new Set(this.pendingLaunches) : null;
    const stale = (d: DeviceVersion): boolean => d.lastTouched < horizon && !pending?.has(d);
    for (const [pid, versions] of this.devices) {
      if (!versions.some(stale)) continue;
      const kept = versions.filter((d) => !stale(d));
      if (kept.length === 0) this.devices.delete(pid);
      else this.devices.set(pid, kept);
    }
  }

  /** A human resume starts a fresh test: devices that failed before count as new failures again. */
  resetDistinctFailing(): void {
    this.everFailed.clear();
  }

  private seen(event: CountableEvent): boolean {
    if (this.generationStart === null) this.generationStart = event.occurredAt;
    if (event.occurredAt - this.generationStart >= this.dedupeWindowMs) {
      this.olderIds = this.recentIds;
      this.recentIds = new Set();
      this.generationStart = event.occurredAt;
    }
    if (this.recentIds.has(event.eventId) || this.olderIds.has(event.eventId)) return true;
    this.recentIds.add(event.eventId);
    return false;
  }

  private device(pid: string, version: string, platform: string, at: number): DeviceVersion {
    let versions = this.devices.get(pid);
    if (!versions) {
      versions = [];
      this.devices.set(pid, versions);
    }
    let d = versions.find((v) => v.version === version);
    if (!d) {
      d = new DeviceVersion(pid, version, platform, at);
      versions.push(d);
    }
    d.lastTouched = Math.max(d.lastTouched, at);
    return d;
  }

  private emit(out: CounterIncrement[], d: DeviceVersion, metric: CountedMetric, bucketStart: number, exposed: number, failing: number): void {
    let newFailingDevice = 0;
    if (failing) {
      const key = `${metric}\u0000${d.pid}\u0000${d.version}`;
      if (!this.everFailed.has(key)) {
        this.everFailed.add(key);
        newFailingDevice = 1;
      }
    }
    out.push({ metric, version: d.version, platform: d.platform, bucketStart, exposed, failing, newFailingDevice });
  }

  private countActive(out: CounterIncrement[], d: DeviceVersion, bucket: number): void {
    const next = addBucket(d.crashExposed, bucket, bucket - this.retentionMs);
    if (next === false) return;
    d.crashExposed = next;
    this.emit(out, d, 'crash_rate', bucket, 1, 0);
  }

  // "One crash-looping phone is one failing device": a crash in the bucket next to (or inside) the
  // device's current crash streak extends the streak instead of counting again. Per-bucket counting
  // alone would count a phone looping for a day 1,440 times.
  private countCrash(out: CounterIncrement[], d: DeviceVersion, bucket: number): void {
    if (bucket >= d.streakFirst - this.bucketMs && bucket <= d.streakLast + this.bucketMs) {
      d.streakFirst = Math.min(d.streakFirst, bucket);
      d.streakLast = Math.max(d.streakLast, bucket);
      return;
    }
    d.streakFirst = bucket;
    d.streakLast = bucket;
    const next = addBucket(d.crashFailed, bucket, bucket - this.retentionMs);
    if (next === false) return;
    d.crashFailed = next;
    this.emit(out, d, 'crash_rate', bucket, 0, 1);
  }

  private countInstallFailure(out: CounterIncrement[], d: DeviceVersion): void {
    if (d.installFailureCounted || d.downloadBucket === null) return;
    d.installFailureCounted = true;
    this.emit(out, d, 'install_failure', d.downloadBucket, 0, 1);
  }

  // Launch outcomes are judged only for installs we saw, so an old device crashing days after an
  // unseen install is a crash, not a launch failure.
  private launchOutcomeIsFailure(d: DeviceVersion): boolean {
    if (d.installedAt === null || d.launchFailed) return false;
    const readyAt = d.appReadyAt ?? Number.POSITIVE_INFINITY;
    const readyInTime = readyAt <= d.installedAt + this.appReadyTimeoutMs;
    if (d.rolledBack && !readyInTime) return true;
    return d.firstCrashAt !== null && d.firstCrashAt >= d.installedAt && d.firstCrashAt < readyAt;
  }

  private countLaunchFailure(out: CounterIncrement[], d: DeviceVersion): void {
    if (d.launchFailed || d.installedAt === null) return;
    d.launchFailed = true;
    this.emit(out, d, 'launch_failure', this.bucketOf(d.installedAt), 0, 1);
  }
}
