import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import type { CellFact } from '../../src/metrics/cells.js';
import { DeviceMarks, type RegisterUpdate } from '../../src/metrics/device-marks.js';
import { BUCKET_MS, LIVE_HORIZON_MS } from '../../src/metrics/metric-definitions.js';
import { deleteRedisPrefix, REDIS_URL, uniqueName } from '../helpers/test-context.js';

const redis = new Redis(REDIS_URL);
const prefix = uniqueName('marks');
afterAll(async () => {
  await deleteRedisPrefix(prefix);
  redis.disconnect();
});

const now = Date.UTC(2026, 10, 28, 12, 30);
const minute = Math.floor(now / BUCKET_MS.minute) * BUCKET_MS.minute;
const pid = (n: number): string => `${n}-`.padEnd(64, 'a'); // markers keep a pid's first 24 characters
const unit = (device: number, field: CellFact['field'], t = minute): CellFact => ({
  cell: { appId: 'app', g: 'minute', t, channel: 'production', platform: 'ios', version: '1.0.0' },
  field,
  pid: pid(device),
});
const ready = (device: number, at: number, version: string): RegisterUpdate => ({ appId: 'app', g: 'minute', t: minute, pid: pid(device), at, tag: `${version}|production` });

describe('device marks in Redis (one script call per hash)', () => {
  it('claim a unit for the first caller only, across fields, devices and buckets, and expire with the bucket', async () => {
    const marks = new DeviceMarks(redis, prefix);
    const first = [unit(1, 'active'), unit(1, 'crash'), unit(2, 'active'), unit(1, 'active', minute - BUCKET_MS.minute)];
    expect(await marks.claim(first, now)).toEqual([true, true, true, true]);
    // A unit asked twice in one call is claimed once; already claimed ones are not claimed again.
    expect(await marks.claim([unit(3, 'active'), unit(1, 'crash'), unit(3, 'active'), unit(2, 'crash')], now)).toEqual([true, false, false, true]);
    const ttl = await redis.pttl(marks.markerOf(unit(1, 'active')).key);
    // The bucket's end plus its live horizon, from `now` (the injectable clock).
    expect(ttl).toBeGreaterThan(BUCKET_MS.minute + LIVE_HORIZON_MS.minute - (now - minute) - 5_000);
    expect(ttl).toBeLessThanOrEqual(BUCKET_MS.minute + LIVE_HORIZON_MS.minute - (now - minute));
  });

  it('keep each device’s latest app_ready: first, replaced, not newer, in one call with other devices', async () => {
    const marks = new DeviceMarks(redis, prefix);
    expect(await marks.confirm([ready(1, now, '1.0.0'), ready(2, now, '1.0.0')], now)).toEqual(['', '']);
    const results = await marks.confirm(
      [
        ready(1, now + 1000, '1.1.0'), // newer: replaces
        ready(2, now - 1000, '2.0.0'), // older: changes nothing
        ready(3, now, '1.0.0'), // first in the bucket
      ],
      now,
    );
    expect(results).toEqual([`${now}|1.0.0|production`, null, '']);
    // Same time: the larger tag wins, so the answer does not depend on arrival order.
    expect(await marks.confirm([ready(2, now, '0.9.0'), ready(3, now, '1.1.0')], now)).toEqual([null, `${now}|1.0.0|production`]);
  });

  it('split a large call and still answer every unit in order', async () => {
    const marks = new DeviceMarks(redis, prefix);
    const units = Array.from({ length: 1_200 }, (_, i) => unit(10_000 + i, 'dlExp'));
    const claimed = await marks.claim([...units, units[5]!], now);
    expect(claimed.slice(0, 1_200).every(Boolean)).toBe(true);
    expect(claimed[1_200]).toBe(false);
  });
});
