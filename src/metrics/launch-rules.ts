import type { EventType } from '../ingest/stored-event.js';
import { APP_READY_GRACE_MS, APP_READY_TIMEOUT_MS } from './metric-definitions.js';

/**
 * Launch failure, as the guard's counting core (src/metrics/device-counting.ts) defines it: judged only
 * for an `installed` that was seen; the launch of that install failed when the device crashed or rolled
 * back before its first `app_ready`, or sent no `app_ready` within 10 minutes. The failure belongs to the
 * install's bucket, beside the exposure it is a failure of.
 */
export type LaunchVerdict = 'failed' | 'ok' | 'pending';

/** One event of one device about one version (for `rolled_back`: the version rolled back from). */
export interface VersionHistoryEvent {
  type: EventType;
  at: number;
}

/** A rolled-back event is about the bundle it rolled back from: `fromVersion` when sent, else `version`. */
export function rolledBackFrom(event: { version: string; fromVersion?: string | undefined }): string {
  return event.fromVersion ?? event.version;
}

/** The version a history event belongs to, for grouping a device's events per version. */
export function historyVersion(event: { type: EventType; version: string; fromVersion?: string | undefined }): string {
  return event.type === 'rolled_back' ? rolledBackFrom(event) : event.version;
}

export function launchVerdict(installedAt: number, history: readonly VersionHistoryEvent[], now: number): LaunchVerdict {
  const deadline = installedAt + APP_READY_TIMEOUT_MS;
  let firstReady = Number.POSITIVE_INFINITY;
  for (const e of history) {
    if (e.type === 'app_ready' && e.at >= installedAt && e.at < firstReady) firstReady = e.at;
  }
  const failedBeforeReady = history.some(
    (e) => (e.type === 'crash' || e.type === 'rolled_back') && e.at >= installedAt && e.at < firstReady,
  );
  if (firstReady <= deadline) {
    // A rollback after a timely app_ready is not a failure of this launch (the guard's rule too).
    return history.some((e) => e.type === 'crash' && e.at >= installedAt && e.at < firstReady) ? 'failed' : 'ok';
  }
  if (failedBeforeReady) return 'failed';
  return now >= deadline + APP_READY_GRACE_MS ? 'failed' : 'pending';
}

/** Installs of a rollback's version up to this long before it are the launch it rolled back. */
export const ROLLBACK_LOOKBACK_MS = 60 * 60_000;

/** The latest `installed` at or before `at` and no older than `lookbackMs`, if any. */
export function latestInstallBefore(history: readonly VersionHistoryEvent[], at: number, lookbackMs: number): number | undefined {
  let best: number | undefined;
  for (const e of history) {
    if (e.type === 'installed' && e.at <= at && e.at >= at - lookbackMs && (best === undefined || e.at > best)) best = e.at;
  }
  return best;
}

/** Every install whose launch a `crash`/`rolled_back` at `at` could decide (installed in the 10 minutes before). */
export function installsDecidedBy(history: readonly VersionHistoryEvent[], at: number): number[] {
  const out = new Set<number>();
  for (const e of history) {
    if (e.type === 'installed' && e.at <= at && e.at >= at - APP_READY_TIMEOUT_MS) out.add(e.at);
  }
  return [...out];
}
