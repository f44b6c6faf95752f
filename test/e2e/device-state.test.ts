import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MongoDeviceStateStore, type CurrentBundle, type DeviceActivity } from '../../src/ingest/device-state-store.js';
import { WriteLane } from '../../src/write-lane.js';
import { stored } from '../helpers/ingest-fixtures.js';
import { createTestContext, type TestContext } from '../helpers/test-context.js';

let ctx: TestContext;
const appId = 'com.test.devices';

beforeAll(async () => {
  ctx = await createTestContext();
});
afterAll(async () => {
  await ctx.close();
});

const DAY = 86_400_000;
const day = (n: number): Date => new Date(Date.UTC(2026, 10, 1) + n * DAY);
const bundle = (n: number, version: string): CurrentBundle => ({ at: new Date(day(n).getTime() + 3_600_000), version, channel: 'production', platform: 'ios' });
const newPid = (): string => randomBytes(32).toString('hex');
const store = (insertFirst: boolean): MongoDeviceStateStore => new MongoDeviceStateStore(ctx.container.mongo, 'each', WriteLane.unbounded(), insertFirst);

async function deviceDoc(pid: string): Promise<Record<string, unknown>> {
  const docs = await stored(ctx, 'devices', { pid });
  expect(docs).toHaveLength(1);
  const { _id, pid: _pid, ...rest } = docs[0]!;
  expect(_id).toBe(`${appId}:${pid}`);
  return rest;
}

describe('device state writes', () => {
  // `unseen` marks a device the writing process has not written before; after a restart (or in another
  // process) that includes devices that are stored already.
  const history = (pid: string): DeviceActivity[][] => [
    [{ pid, day: day(1), current: bundle(1, '2.0.0'), unseen: true }],
    [{ pid, day: day(1), current: bundle(0, '1.9.0') }],
    [{ pid, day: day(2), current: bundle(2, '2.1.0'), unseen: true }],
    [{ pid, day: day(0), unseen: true }],
  ];

  it('leave the same document whether an unseen device is inserted first (FerretDB) or upserted', async () => {
    const results = [];
    for (const insertFirst of [true, false]) {
      const pid = newPid();
      for (const activity of history(pid)) await store(insertFirst).recordActivity(appId, activity);
      results.push(await deviceDoc(pid));
    }
    expect(results[0]).toEqual({ appId, current: bundle(2, '2.1.0'), firstSeen: day(0), lastSeen: day(2) });
    expect(results[1]).toEqual(results[0]);
  });

  it('insert a new device as the upsert would create it, with or without a running bundle', async () => {
    const [withBundle, without] = [newPid(), newPid()];
    await store(true).recordActivity(appId, [
      { pid: withBundle, day: day(3), current: bundle(3, '3.0.0'), unseen: true },
      { pid: without, day: day(3), unseen: true },
    ]);
    expect(await deviceDoc(withBundle)).toEqual({ appId, current: bundle(3, '3.0.0'), firstSeen: day(3), lastSeen: day(3) });
    expect(await deviceDoc(without)).toEqual({ appId, firstSeen: day(3), lastSeen: day(3) });
  });

  it('converge to one document when two processes create the same device at once', async () => {
    const pid = newPid();
    const [a, b] = [store(true), store(true)];
    // One insert wins; the other finds the document and upserts into it. (Only one update runs here: FerretDB
    // 1.24 reads, then replaces, so two concurrent updates of one document can lose one: README, "FerretDB
    // limits".)
    await Promise.all([
      a.recordActivity(appId, [{ pid, day: day(5), current: bundle(5, '5.0.0'), unseen: true }]),
      b.recordActivity(appId, [{ pid, day: day(4), current: bundle(4, '4.0.0'), unseen: true }]),
    ]);
    expect(await deviceDoc(pid)).toEqual({ appId, current: bundle(5, '5.0.0'), firstSeen: day(4), lastSeen: day(5) });
    await store(false).recordActivity(appId, [{ pid, day: day(6), unseen: true }]);
    expect(await deviceDoc(pid)).toEqual({ appId, current: bundle(5, '5.0.0'), firstSeen: day(4), lastSeen: day(6) });
  });

  it('upsert only the stored ones of a mixed batch and insert the rest', async () => {
    const [known, fresh] = [newPid(), newPid()];
    await store(false).recordActivity(appId, [{ pid: known, day: day(7), current: bundle(7, '7.0.0') }]);
    await store(true).recordActivity(appId, [
      { pid: known, day: day(8), current: bundle(8, '8.0.0'), unseen: true },
      { pid: fresh, day: day(8), unseen: true },
    ]);
    expect(await deviceDoc(known)).toEqual({ appId, current: bundle(8, '8.0.0'), firstSeen: day(7), lastSeen: day(8) });
    expect(await deviceDoc(fresh)).toEqual({ appId, firstSeen: day(8), lastSeen: day(8) });
  });
  it('of concurrent batches share lane turns, and each device ends as if written one batch at a time', async () => {
    const turns: number[] = [];
    const lane = new WriteLane(1, { waited: () => undefined, held: (writer) => void (writer === 'device_state' && turns.push(1)) });
    const shared = new MongoDeviceStateStore(ctx.container.mongo, 'each', lane, true);
    // Another writer holds the lane first, so the batches pile up behind it.
    const other = lane.run('events', () => new Promise((resolve) => setTimeout(resolve, 30)));
    const pids = Array.from({ length: 20 }, newPid);
    const repeat = pids[0]!;
    const batches: DeviceActivity[][] = [
      ...pids.map((pid) => [{ pid, day: day(9), unseen: true }]),
      // The same device again in the same group: the newest bundle wins, whatever the order.
      [{ pid: repeat, day: day(9), current: bundle(9, '9.1.0'), unseen: true }],
      [{ pid: repeat, day: day(9), current: bundle(8, '8.9.0') }],
      [{ pid: repeat, day: day(10), current: bundle(10, '10.0.0') }],
    ];
    await Promise.all([other, ...batches.map((activity) => shared.recordActivity(appId, activity))]);
    expect(turns.length).toBeGreaterThan(0);
    expect(turns.length).toBeLessThanOrEqual(2); // the first group took everything that waited
    expect(await deviceDoc(repeat)).toEqual({ appId, current: bundle(10, '10.0.0'), firstSeen: day(9), lastSeen: day(10) });
    for (const pid of pids.slice(1)) expect(await deviceDoc(pid)).toEqual({ appId, firstSeen: day(9), lastSeen: day(9) });
  });
});
