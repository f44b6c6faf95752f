import { describe, expect, it } from 'vitest';
import { CoalescingEventWriter } from '../../src/ingest/event-writer.js';
import type { EventStore } from '../../src/ingest/event-store.js';
import { eventDocId, eventIdOf, type StoredEvent } from '../../src/ingest/stored-event.js';
import { WriteLane, type LaneWriter } from '../../src/write-lane.js';

const tick = (ms = 1): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function event(n: number): StoredEvent {
  const at = new Date(1_700_000_000_000 + n);
  return { _id: eventDocId('app', 'p'.repeat(64), `e${n}`), appId: 'app', pid: 'p'.repeat(64), type: 'installed', version: '1', channel: 'production', platform: 'ios', occurredAt: at, receivedAt: at };
}

/** Records every insert and how many ran at once; `e<n>` with n divisible by 7 is "already stored". */
class SlowStore implements EventStore {
  readonly inserts: string[][] = [];
  running = 0;
  maxRunning = 0;
  async insert(events: readonly StoredEvent[]): Promise<boolean[]> {
    this.running++;
    this.maxRunning = Math.max(this.maxRunning, this.running);
    this.inserts.push(events.map((e) => eventIdOf(e)));
    await tick(5);
    this.running--;
    return events.map((e) => Number(eventIdOf(e).slice(1)) % 7 !== 0);
  }
  async remove(): Promise<number> {
    return 0;
  }
}

describe('WriteLane', () => {
  it('runs at most `capacity` at once, first come first served, and frees the slot when work fails', async () => {
    const lane = new WriteLane(2);
    const started: number[] = [];
    let running = 0;
    let maxRunning = 0;
    const results = await Promise.allSettled(
      Array.from({ length: 8 }, (_, i) =>
        lane.run('events', async () => {
          started.push(i);
          running++;
          maxRunning = Math.max(maxRunning, running);
          await tick(2);
          running--;
          if (i === 3) throw new Error('boom');
          return i;
        }),
      ),
    );
    expect(maxRunning).toBe(2);
    expect(started).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled', 'rejected', 'fulfilled', 'fulfilled', 'fulfilled', 'fulfilled']);
    expect(lane.queued).toBe(0);
    expect(await lane.run('events', async () => 'free again')).toBe('free again');
  });

  it('reports, per writer, how long each write waited for a slot and how long it held one', async () => {
    const seen: Array<[string, LaneWriter, number]> = [];
    const lane = new WriteLane(1, {
      waited: (writer, seconds) => seen.push(['waited', writer, seconds]),
      held: (writer, seconds) => seen.push(['held', writer, seconds]),
    });
    await Promise.all([lane.run('counters', () => tick(20)), lane.run('events', () => tick(1))]);
    const of = (what: string, writer: LaneWriter): number => seen.find(([w, who]) => w === what && who === writer)![2];
    expect(seen).toHaveLength(4);
    expect(of('waited', 'counters')).toBeLessThan(0.005); // the lane was free
    expect(of('held', 'counters')).toBeGreaterThanOrEqual(0.015);
    expect(of('waited', 'events')).toBeGreaterThanOrEqual(0.015); // behind the counters' write
    expect(of('held', 'events')).toBeLessThan(of('held', 'counters'));
  });

  it('chooses one writer on FerretDB and no bound on MongoDB unless configured', () => {
    expect(WriteLane.for(true, 0).capacity).toBe(1);
    expect(WriteLane.for(false, 0).capacity).toBe(Number.POSITIVE_INFINITY);
    expect([WriteLane.for(true, 0).bounded, WriteLane.for(false, 0).bounded]).toEqual([true, false]);
    expect(WriteLane.for(true, 4).capacity).toBe(4);
  });
});

describe('CoalescingEventWriter on a one-writer lane', () => {
  it('never overlaps inserts, coalesces what waited, and answers each batch with its own results', async () => {
    const store = new SlowStore();
    const lane = new WriteLane(1);
    // Another writer (metric counters) holds the lane first, so the event batches pile up behind it.
    const other = lane.run('counters', () => tick(10));
    const writer = new CoalescingEventWriter(store, [], () => undefined, { maxConcurrentWrites: 2, maxEventsPerWrite: 30, lane });
    const batches = Array.from({ length: 10 }, (_, b) => Array.from({ length: 10 }, (_, i) => event(b * 10 + i)));
    const answers = await Promise.all(batches.map((batch) => writer.write(batch)));
    await other;

    expect(store.maxRunning).toBe(1);
    expect(store.inserts.flat().sort()).toEqual(batches.flat().map((e) => eventIdOf(e)).sort());
    expect(store.inserts.every((ids) => ids.length <= 30)).toBe(true);
    expect(store.inserts.length).toBeLessThan(batches.length); // coalesced, not one insert per batch
    answers.forEach((stored, b) => expect(stored).toEqual(batches[b]!.map((e) => Number(eventIdOf(e).slice(1)) % 7 !== 0)));
  });
});
