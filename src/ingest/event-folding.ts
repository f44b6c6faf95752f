import type { CurrentBundle, DeviceActivity, DeviceSnapshot } from './device-state-store.js';
import type { IncomingEvent } from './event-shape.js';
import { eventDocId, type StoredEvent } from './stored-event.js';

export const DAY_MS = 86_400_000;

export function toStored(appId: string, pid: string, e: IncomingEvent, receivedAt: Date): StoredEvent {
  // Built field by field: the raw deviceId is not copied, and nothing unexpected can slip in.
  const stored: StoredEvent = {
    _id: eventDocId(appId, pid, e.eventId),
    appId,
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

/**
 * What this process last wrote to each device document, so that a batch only writes when it changes
 * something (the first event of a device on a day, a new running bundle). Bounded, least recently
 * used first out. Forgetting only costs a redundant (commutative) write; it never skips a needed one
 * for long, because a miss writes.
 */
export class RecentDeviceActivity {
  private readonly entries = new Map<string, DeviceSnapshot>();

  constructor(private readonly max = 50_000) {}

  get(key: string): DeviceSnapshot | undefined {
    return this.entries.get(key);
  }

  remember(key: string, activity: DeviceActivity): void {
    const known = this.entries.get(key);
    const current = activity.current && (!known?.current || activity.current.at > known.current.at) ? activity.current : known?.current;
    this.entries.delete(key);
    this.entries.set(key, { pid: activity.pid, lastSeen: activity.day, firstSeen: known?.firstSeen ?? activity.day, ...(current ? { current } : {}) });
    if (this.entries.size > this.max) this.entries.delete(this.entries.keys().next().value as string);
  }
}

/** The device-state writes a batch needs; none when this process already wrote the same (the common case). */
export function activityOf(appId: string, events: readonly StoredEvent[], recent: RecentDeviceActivity, day: Date): DeviceActivity[] {
  const byPid = new Map<string, DeviceActivity>();
  for (const e of events) {
    const activity = byPid.get(e.pid) ?? { pid: e.pid, day };
    if (e.type === 'app_ready' && (!activity.current || e.occurredAt > activity.current.at)) {
      activity.current = { at: e.occurredAt, version: e.version, channel: e.channel, platform: e.platform };
    }
    byPid.set(e.pid, activity);
  }
  return [...byPid.values()].flatMap((activity) => {
    const known = recent.get(`${appId}:${activity.pid}`);
    if (!known) return [{ ...activity, unseen: true }];
    if (!known.lastSeen || known.lastSeen < day) return [activity];
    return activity.current !== undefined && currentMoved(known.current, activity.current) ? [activity] : [];
  });
}

/**
 * A newer app_ready is worth a write when it changes what the device runs, or starts a new day. Another
 * launch of the same bundle on the same day is not, though its time is later: that is most of the
 * traffic. (The cost: a delayed app_ready of another bundle landing between two same-day launches of
 * the current one can win the $max; the device's next launch puts it right.)
 */
function currentMoved(stored: CurrentBundle | undefined, next: CurrentBundle): boolean {
  if (!stored) return true;
  if (next.at <= stored.at) return false;
  const same = stored.version === next.version && stored.channel === next.channel && stored.platform === next.platform;
  return !same || utcDay(stored.at).getTime() !== utcDay(next.at).getTime();
}
