import { describe, expect, it } from 'vitest';
import { activityOf, RecentDeviceActivity, utcDay } from '../../src/ingest/event-folding.js';
import { eventDocId, type StoredEvent } from '../../src/ingest/stored-event.js';

const appId = 'com.test';
const now = new Date(Date.UTC(2026, 10, 27, 12));
const today = utcDay(now);

function stored(pid: string, type: StoredEvent['type'], version = '1.0.0', at = now): StoredEvent {
  const eventId = `${pid}-${type}-${at.getTime()}`;
  return { _id: eventDocId(appId, pid, eventId), appId, pid, type, version, channel: 'production', platform: 'ios', occurredAt: at, receivedAt: now };
}

describe('the device-state writes of a batch', () => {
  it('mark a device this process has not written yet as unseen, and only such a device', () => {
    const recent = new RecentDeviceActivity();
    const first = activityOf(appId, [stored('a', 'installed'), stored('a', 'app_ready')], recent, today);
    expect(first).toEqual([{ pid: 'a', day: today, current: { at: now, version: '1.0.0', channel: 'production', platform: 'ios' }, unseen: true }]);
    for (const activity of first) recent.remember(`${appId}:${activity.pid}`, activity);

    // The same bundle again on the same day writes nothing; a new bundle writes, no longer as unseen.
    expect(activityOf(appId, [stored('a', 'app_ready', '1.0.0', new Date(now.getTime() + 1000))], recent, today)).toEqual([]);
    const later = new Date(now.getTime() + 2000);
    expect(activityOf(appId, [stored('a', 'app_ready', '1.1.0', later), stored('b', 'crash')], recent, today)).toEqual([
      { pid: 'a', day: today, current: { at: later, version: '1.1.0', channel: 'production', platform: 'ios' } },
      { pid: 'b', day: today, unseen: true },
    ]);
  });

  it('write a known device again on its first batch of a new day, not as unseen', () => {
    const recent = new RecentDeviceActivity();
    recent.remember(`${appId}:a`, { pid: 'a', day: today });
    const tomorrow = new Date(today.getTime() + 86_400_000);
    expect(activityOf(appId, [stored('a', 'crash')], recent, tomorrow)).toEqual([{ pid: 'a', day: tomorrow }]);
  });
});
