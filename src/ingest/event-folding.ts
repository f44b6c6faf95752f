import type { DeviceActivity, DeviceSnapshot } from './device-state-store.js';
import type { IncomingEvent } from './event-shape.js';
import type { StoredEvent } from './stored-event.js';

export const DAY_MS = 86_400_000;

export function toStored(appId: string, pid: string, e: IncomingEvent, receivedAt: Date): StoredEvent {
  // Built field by field: the raw deviceId is not copied, and nothing unexpected can slip in.
  const stored: StoredEvent = {
    _id: `${appId}:${e.eventId}`,
    appId,
    eventId: e.eventId,
    pid,
    type: e.type,
    version: e.version,
    channel: e.channel,
    platform: e.platform,
    occurredAt: e.occurredAt,
    receivedAt,
  };
  if (e.fromVersion !== undefined) stored.fromVersion = e.fromVersion;
  if (e.nativeVersion !== undefined) stored.nativeVersion = e.nativeVersion;
  if (e.osVersion !== undefined) stored.osVersion = e.osVersion;
  if (e.errorCode !== undefined) stored.errorCode = e.errorCode;
  if (e.durationMs !== undefined) stored.durationMs = e.durationMs;
  return stored;
}

export const utcDay = (at: Date): Date => new Date(Math.floor(at.getTime() / DAY_MS) * DAY_MS);

/** The device-state writes a batch needs; none when the device already reflects it (the common case). */
export function activityOf(events: readonly StoredEvent[], snapshots: ReadonlyMap<string, DeviceSnapshot>, day: Date): DeviceActivity[] {
  const byPid = new Map<string, DeviceActivity>();
  for (const e of events) {
    const activity = byPid.get(e.pid) ?? { pid: e.pid, day };
    if (e.type === 'app_ready' && (!activity.current || e.occurredAt > activity.current.at)) {
      activity.current = { at: e.occurredAt, version: e.version, channel: e.channel, platform: e.platform };
    }
    byPid.set(e.pid, activity);
  }
  return [...byPid.values()].filter(({ pid, current }) => {
    const snap = snapshots.get(pid);
    if (!snap?.firstSeen || !snap.lastSeen || snap.lastSeen < day) return true;
    return current !== undefined && (!snap.current || current.at > snap.current.at);
  });
}
