import { InvalidError } from '../errors.js';
import { BUCKET_MS, bucketKept, type CounterRetention, type Granularity } from './metric-definitions.js';

/** Largest window per bucket size: a day of minutes, a month of hours, a bit more than a year of days. */
export const MAX_BUCKETS: Readonly<Record<Granularity, number>> = { minute: 1440, hour: 744, day: 400 };

export interface MetricsWindow {
  /** Inclusive start and exclusive end (epoch ms), aligned to `bucket`. */
  from: number;
  to: number;
  bucket: Granularity;
  /**
   * The coarsest granularity whose buckets tile [from, to) exactly. The summary is counted in those buckets:
   * when the window is exactly one of them, its counts are distinct devices in the window; otherwise a
   * device counts once per summary bucket it appears in (device-buckets, e.g. device-days).
   */
  summary: Granularity;
  summaryBuckets: number;
}

const COARSEST_FIRST: readonly Granularity[] = ['day', 'hour', 'minute'];

function invalid(field: string, reason: string): never {
  throw new InvalidError('validation_failed', `${field} ${reason}`, { field, reason });
}

function parse(field: string, raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const ms = Date.parse(raw);
  if (Number.isNaN(ms)) invalid(field, 'is not a valid date-time');
  return ms;
}

/**
 * Resolves the requested window. `from` is rounded down and `to` up to whole buckets. Defaults: bucket
 * `hour`; without `to`, the end of the current bucket of the next coarser size (the current hour for
 * minutes, the current UTC day for hours) or, for days, of today; without `from`, that hour or day, or
 * 30 days for day buckets. A window reaching back past the buckets `kept` (the retention job deleted them)
 * is refused: zeros there would read as no devices.
 */
export function resolveWindow(
  query: { from?: string; to?: string; bucket?: Granularity },
  now: number,
  kept: CounterRetention = {},
): MetricsWindow {
  const bucket = query.bucket ?? 'hour';
  const size = BUCKET_MS[bucket];
  const frame: Granularity = bucket === 'minute' ? 'hour' : 'day';
  const frameSize = BUCKET_MS[frame];
  const rawFrom = parse('query.from', query.from);
  const rawTo = parse('query.to', query.to);
  if (rawFrom !== undefined && rawTo !== undefined && rawFrom >= rawTo) invalid('query.from', 'must be before query.to');

  const defaultTo = Math.floor(now / frameSize) * frameSize + frameSize;
  let to = rawTo !== undefined ? Math.ceil(rawTo / size) * size : undefined;
  let from = rawFrom !== undefined ? Math.floor(rawFrom / size) * size : undefined;
  const defaultSpan = bucket === 'day' ? 30 * BUCKET_MS.day : frameSize;
  if (to === undefined) to = from !== undefined ? Math.max(defaultTo, from + size) : defaultTo;
  if (from === undefined) from = to - defaultSpan;
  if (from >= to) invalid('query.from', 'must be before query.to');

  const buckets = (to - from) / size;
  if (buckets > MAX_BUCKETS[bucket]) {
    invalid('query.from', `gives a window of ${buckets} ${bucket} buckets; at most ${MAX_BUCKETS[bucket]} are allowed for bucket=${bucket}`);
  }
  const summary = COARSEST_FIRST.find((g) => from % BUCKET_MS[g] === 0 && to % BUCKET_MS[g] === 0) ?? bucket;
  for (const g of new Set([bucket, summary])) {
    if (!bucketKept(kept, g, from, now)) invalid('query.from', `is older than the ${kept[g]} days ${g} counters are kept; ask with a coarser bucket`);
  }
  return { from, to, bucket, summary, summaryBuckets: (to - from) / BUCKET_MS[summary] };
}
