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

/** A raw event as stored (collection `events`): pseudonymous, kept for the app's retention window. */
export interface StoredEvent {
  /** `${appId}:${eventId}`: the idempotency key, so a resend can never be stored twice. */
  _id: string;
  appId: string;
  eventId: string;
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

/**
 * Called by ingest after a batch's new events are durably written (duplicates are never passed).
 * Metrics aggregation hangs off this; it must not throw into ingest or slow the 202 down.
 */
export interface AcceptedEventsListener {
  onAccepted(events: readonly StoredEvent[]): void;
}
