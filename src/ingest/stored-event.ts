/** Event types of telemetry v1 (see DESIGN.md). */
export const EVENT_TYPES = [
  'download_started',
  'download_completed',
  'download_failed',
  'installed',
  'install_failed',
  'app_ready',
  'crash',
  'rolled_back',
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/**
 * A raw event as stored (collection `events`): pseudonymous, kept for the app's retention window. The
 * device's eventId is the end of `_id` (`eventIdOf`), not a field of its own: on FerretDB an insert costs
 * in proportion to the document's size, and the copy made a 50-event insert about a fifth slower
 * (docs/ingest-performance.md, "Event `_id`s and the index"). Documents stored before that change also carry
 * an `eventId` field.
 */
export interface StoredEvent {
  /** `eventDocId(appId, pid, eventId)`: the idempotency key, so a resend can never be stored twice. */
  _id: string;
  appId: string;
  pid: string;
  type: EventType;
  version: string;
  channel: string;
  platform: string;
  occurredAt: Date;
  receivedAt: Date;
  fromVersion?: string;
  nativeVersion?: string;
  osVersion?: string;
  errorCode?: string;
  durationMs?: number;
}

/** Hex digits of the pid in an event's `_id`: 64 bits, enough to keep devices apart. */
const PID_PREFIX = 16;

/**
 * An event's `_id`: `appId:<first 16 hex digits of the pid>:eventId`. The idempotency key: a resend comes
 * from the same device with the same eventId, so it finds its first copy. Leading with the device keeps
 * the `_id` index local: a batch's events (one device's, as an SDK flushes its queue) land on a few
 * neighbouring index pages instead of one random page each. On FerretDB/SQLite, where every dirtied page
 * is written to the WAL and checkpointed, that makes an insert 30–40% cheaper (README, "Event `_id`s and
 * the index"); MongoDB's B-tree gains the same locality. It also means another device reusing an eventId
 * cannot make this device's event count as a duplicate.
 */
export function eventDocId(appId: string, pid: string, eventId: string): string {
  return `${appId}:${pid.slice(0, PID_PREFIX)}:${eventId}`;
}

/** The device's eventId of a stored event: its `_id` after the appId and the pid's digits. */
export function eventIdOf(event: Pick<StoredEvent, '_id' | 'appId'>): string {
  return event._id.slice(event.appId.length + PID_PREFIX + 2);
}

/**
 * Called by ingest after a batch's new events are durably written (duplicates are never passed).
 * Metrics aggregation hangs off this; it must not throw into ingest or slow the 202 down.
 */
export interface AcceptedEventsListener {
  onAccepted(events: readonly StoredEvent[]): void;
}
