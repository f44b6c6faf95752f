import { describe, expect, it } from 'vitest';
import { DeviceCounter } from '../../../src/metrics/device-counting.js';
import type { CountableEvent, CounterIncrement, EventType } from '../../../src/metrics/device-counting.js';

const MINUTE = 60_000;
const T0 = 1_700_000_040_000; // a bucket boundary (multiple of 60 s)
let nextId = 0;

function event(type: EventType, at: number, extra: Partial<CountableEvent> = {}): CountableEvent {
  return { pid: 'p1', type, version: '2.0.0', platform: 'android', occurredAt: at, eventId: `id${nextId++}`, ...extra };
}

function totals(increments: CounterIncrement[], metric: CounterIncrement['metric']) {
  const mine = increments.filter((i) => i.metric === metric);
  return {
    exposed: mine.reduce((s, i) => s + i.exposed, 0),
    failing: mine.reduce((s, i) => s + i.failing, 0),
    newFailingDevices: mine.reduce((s, i) => s + i.newFailingDevice, 0),
    buckets: [...new Set(mine.map((i) => i.bucketStart))],
  };
}

function feed(counter: DeviceCounter, events: CountableEvent[]): CounterIncrement[] {
  return events.flatMap((e) => counter.add(e).increments);
}

describe('DeviceCounter — crash_rate', () => {
  it('counts ten crashes of one device in one bucket as one failing, one exposed device', () => {
    const counter = new DeviceCounter();
    const crashes = Array.from({ length: 10 }, (_, i) => event('crash', T0 + i * 1000));
    expect(totals(feed(counter, crashes), 'crash_rate')).toEqual({ exposed: 1, failing: 1, newFailingDevices: 1, buckets: [T0] });
  });

  it('counts a device looping for five minutes as one failing device, active in each bucket', () => {
    const counter = new DeviceCounter();
    const loop = Array.from({ length: 250 }, (_, i) => event('crash', T0 + i * 1200));
    const t = totals(feed(counter, loop), 'crash_rate');
    expect(t.failing).toBe(1);
    expect(t.exposed).toBe(5);
  });

  it('counts crashes separated by a crash-free bucket as two failures of one distinct device', () => {
    const counter = new DeviceCounter();
    const t = totals(feed(counter, [event('crash', T0), event('app_ready', T0 + MINUTE), event('crash', T0 + 2 * MINUTE + 5)]), 'crash_rate');
    expect(t).toMatchObject({ failing: 2, newFailingDevices: 1, exposed: 3 });
  });

  it('counts two devices crashing as two failing devices, per version', () => {
    const counter = new DeviceCounter();
    const t = totals(feed(counter, [event('crash', T0), event('crash', T0, { pid: 'p2' }), event('crash', T0, { pid: 'p2', version: '1.9.0' })]), 'crash_rate');
    expect(t.failing).toBe(3);
  });

  it('ignores duplicate event ids and reports them as duplicates', () => {
    const counter = new DeviceCounter();
    const first = event('app_ready', T0);
    expect(counter.add(first).duplicate).toBe(false);
    const again = counter.add({ ...first });
    expect(again).toEqual({ duplicate: true, increments: [] });
  });
});

describe('DeviceCounter — launch_failure and the 10-minute rule', () => {
  it('flags a missing app_ready only once 10 minutes have passed on the supplied clock', () => {
    const counter = new DeviceCounter();
    const installed = totals(feed(counter, [event('installed', T0 + 5_000)]), 'launch_failure');
    expect(installed).toMatchObject({ exposed: 1, failing: 0 });
    expect(counter.expireMissingAppReady(T0 + 5_000 + 10 * MINUTE - 1)).toEqual([]);
    const expired = counter.expireMissingAppReady(T0 + 5_000 + 10 * MINUTE);
    expect(expired).toEqual([{ metric: 'launch_failure', version: '2.0.0', platform: 'android', bucketStart: T0, exposed: 0, failing: 1, newFailingDevice: 1 }]);
    expect(counter.expireMissingAppReady(T0 + 60 * MINUTE)).toEqual([]);
  });

  it('does not flag a launch whose app_ready came within 10 minutes', () => {
    const counter = new DeviceCounter();
    feed(counter, [event('installed', T0), event('app_ready', T0 + 9 * MINUTE)]);
    expect(counter.expireMissingAppReady(T0 + 30 * MINUTE)).toEqual([]);
  });

  it('flags an app_ready that came after the 10 minutes', () => {
    const counter = new DeviceCounter();
    feed(counter, [event('installed', T0), event('app_ready', T0 + 11 * MINUTE)]);
    expect(totals(counter.expireMissingAppReady(T0 + 12 * MINUTE), 'launch_failure').failing).toBe(1);
  });

  it('waits the delivery grace before applying the rule', () => {
    const counter = new DeviceCounter({ deliveryGraceMs: 5 * MINUTE });
    feed(counter, [event('installed', T0)]);
    expect(counter.expireMissingAppReady(T0 + 14 * MINUTE)).toEqual([]);
    // A late app_ready that happened at minute 3 still clears the launch.
    feed(counter, [event('app_ready', T0 + 3 * MINUTE)]);
    expect(counter.expireMissingAppReady(T0 + 15 * MINUTE)).toEqual([]);
  });

  it('counts a crash before app_ready, and a rollback, as one launch failure in the install bucket', () => {
    const counter = new DeviceCounter();
    const inc = feed(counter, [
      event('installed', T0 + 59_000),
      event('crash', T0 + 61_000),
      event('rolled_back', T0 + 63_000, { version: '1.9.0', fromVersion: '2.0.0' }),
    ]);
    expect(totals(inc, 'launch_failure')).toEqual({ exposed: 1, failing: 1, newFailingDevices: 1, buckets: [T0] });
  });

  it('does not count a crash after a timely app_ready as a launch failure (it is a crash)', () => {
    const counter = new DeviceCounter();
    const inc = feed(counter, [event('installed', T0), event('app_ready', T0 + 2_000), event('crash', T0 + 30_000)]);
    expect(totals(inc, 'launch_failure').failing).toBe(0);
    expect(totals(inc, 'crash_rate').failing).toBe(1);
    expect(counter.expireMissingAppReady(T0 + 20 * MINUTE)).toEqual([]);
  });

  it('judges a crash that arrives before its installed event once the install arrives', () => {
    const counter = new DeviceCounter();
    const inc = feed(counter, [event('crash', T0 + 10_000), event('installed', T0 + 1_000)]);
    expect(totals(inc, 'launch_failure')).toMatchObject({ exposed: 1, failing: 1 });
  });

  it('forgets pending launches installed while telemetry was missing', () => {
    const counter = new DeviceCounter();
    feed(counter, [event('installed', T0), event('installed', T0 + 2 * MINUTE, { pid: 'p2' })]);
    expect(counter.forgetPendingAppReady(T0 + MINUTE, T0 + 5 * MINUTE)).toBe(1);
    expect(totals(counter.expireMissingAppReady(T0 + 30 * MINUTE), 'launch_failure').failing).toBe(1);
  });
});

describe('DeviceCounter — install_failure', () => {
  it('counts a failed download as exposed and failing once per device and version', () => {
    const counter = new DeviceCounter();
    const inc = feed(counter, [
      event('download_started', T0),
      event('download_failed', T0 + 5_000),
      event('download_started', T0 + 70_000),
      event('install_failed', T0 + 90_000),
    ]);
    expect(totals(inc, 'install_failure')).toEqual({ exposed: 1, failing: 1, newFailingDevices: 1, buckets: [T0] });
  });

  it('treats a failure whose download_started never arrived as exposed too', () => {
    const counter = new DeviceCounter();
    expect(totals(feed(counter, [event('install_failed', T0)]), 'install_failure')).toMatchObject({ exposed: 1, failing: 1 });
  });

  it('does not count a successful install as failing', () => {
    const counter = new DeviceCounter();
    const inc = feed(counter, [event('download_started', T0), event('download_completed', T0 + 1), event('installed', T0 + 2)]);
    expect(totals(inc, 'install_failure')).toMatchObject({ exposed: 1, failing: 0 });
  });
});

describe('DeviceCounter — memory', () => {
  it('forgets devices after the retention window, so a much later crash counts again', () => {
    const counter = new DeviceCounter({ retentionMs: 30 * MINUTE });
    feed(counter, [event('crash', T0)]);
    counter.prune(T0 + 31 * MINUTE);
    const t = totals(feed(counter, [event('crash', T0 + 32 * MINUTE)]), 'crash_rate');
    expect(t).toMatchObject({ failing: 1, newFailingDevices: 0 });
  });
});
