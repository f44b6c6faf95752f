/**
 * What the metrics count, in one place. The README's "Metrics" section documents every definition here;
 * bump DEFINITIONS_VERSION whenever a definition changes meaning.
 */
export const DEFINITIONS_VERSION = 'otaguard-metrics/2';

export const GRANULARITIES = ['minute', 'hour', 'day'] as const;
export type Granularity = (typeof GRANULARITIES)[number];

export const BUCKET_MS: Readonly<Record<Granularity, number>> = {
  minute: 60_000,
  hour: 3_600_000,
  day: 86_400_000,
};

/**
 * Days the retention job keeps each granularity's counter documents (by bucket start); a granularity not
 * listed (day) is kept for good. Reads of an older bucket are refused rather than answered with zeros.
 */
export type CounterRetention = Readonly<Partial<Record<Granularity, number>>>;

/** Buckets are UTC-aligned: a day bucket is a UTC calendar day. */
export function bucketStart(atMs: number, g: Granularity): number {
  const size = BUCKET_MS[g];
  return Math.floor(atMs / size) * size;
}

/**
 * Start of the oldest `g` bucket kept at `now`; undefined when `g` is kept for good. Whole buckets, so the
 * purge never deletes a bucket that a read or reconciliation at a later `now` still treats as kept.
 */
export function oldestKeptBucket(kept: CounterRetention, g: Granularity, now: number): number | undefined {
  const days = kept[g];
  return days === undefined ? undefined : bucketStart(now - days * BUCKET_MS.day, g);
}

/** Whether the `g` bucket starting at `t` is still kept at `now`: the metrics API and reconciliation ask. */
export function bucketKept(kept: CounterRetention, g: Granularity, t: number, now: number): boolean {
  const oldest = oldestKeptBucket(kept, g, now);
  return oldest === undefined || t >= oldest;
}

/**
 * How long after a bucket ends live counting still accepts a device for it. The cross-process dedupe
 * markers live exactly that long; a later event is counted by reconciliation instead (its day is queued
 * as dirty), so a device can never be counted twice after its marker expired.
 */
export const LIVE_HORIZON_MS: Readonly<Record<Granularity, number>> = {
  minute: 2 * 3_600_000,
  hour: 6 * 3_600_000,
  day: 26 * 3_600_000,
};

/** A launch with no `app_ready` this long after `installed` is a launch failure (the 10-minute rule). */
export const APP_READY_TIMEOUT_MS = 10 * 60_000;
/** The 10-minute rule waits this much longer for `app_ready` events still in flight. */
export const APP_READY_GRACE_MS = 60_000;

/**
 * An update check (`POST /v1/update-check`) makes its device active on the version it runs, like an event.
 * It is deduped on the same `active` marker as events (a device is active at most once per cell), but when
 * the check claims the marker first the device is counted in `chkActive`, not `active`: reconciliation
 * recounts `active` from raw events and cannot recount update checks (they are not events), so the two are
 * kept apart. Active devices = active + chkActive.
 *
 * Per-bucket device counts held in a counter document. Each is a number of distinct devices in the bucket,
 * only ever raised by `$inc` with positive values (reconciliation sets exact values).
 */
export const COUNTER_FIELDS = [
  'active', // any event about the version
  'chkActive', // active through an update check that claimed the device before any event (see above)
  'runIn', // became a device whose latest app_ready in the bucket is this version
  'runOut', // stopped being one (a later app_ready in the same bucket named another version)
  'dlExp', // download_started | download_completed | download_failed
  'dlFail', // download_failed
  'inExp', // installed | install_failed
  'inFail', // install_failed
  'laExp', // installed (cohort of the install), or rolled_back with no install seen
  'laFail', // launch failure, in the bucket of the install
  'crExp', // running the version: app_ready | crash
  'crash', // crash
  'rb', // rolled_back from the version
] as const;
export type CounterField = (typeof COUNTER_FIELDS)[number];
/** Fields that one event (or one launch verdict) contributes directly; runIn/runOut come from app_ready ordering. */
export type FactField = Exclude<CounterField, 'runIn' | 'runOut' | 'chkActive'>;

/** Sentinel for "all channels" (counter rows that dedupe a device across channels) and "all versions". */
export const ALL = '*';

/** One device counted for one field of one version at one instant; dedupe turns it into at most one per bucket. */
export interface Fact {
  appId: string;
  pid: string;
  version: string;
  channel: string;
  platform: string;
  field: FactField;
  /** The instant whose bucket the fact belongs to (epoch ms). */
  at: number;
}

/** An `app_ready`: the device confirmed it runs `version` at `at`. Feeds the adoption numerator. */
export interface ReadyObservation {
  appId: string;
  pid: string;
  version: string;
  channel: string;
  platform: string;
  at: number;
}

/** Identifies one counter document: a (app, granularity, bucket, channel|*, platform, version|*) cell. */
export interface CounterCell {
  appId: string;
  g: Granularity;
  t: number;
  channel: string;
  platform: string;
  version: string;
}

export function cellId(c: CounterCell): string {
  return `${c.appId}|${c.g}|${c.t}|${c.channel}|${c.platform}|${c.version}`;
}

export type CounterValues = Partial<Record<CounterField, number>>;
