import { Histogram, type Registry } from 'prom-client';

/** Who writes through the lane: ingest's events and device state, and the metric counters' flushes. */
export type LaneWriter = 'events' | 'device_state' | 'counters';

/** What a lane reports: per write, how long it waited for a slot and how long it held one. */
export interface LaneObserver {
  waited(writer: LaneWriter, seconds: number): void;
  held(writer: LaneWriter, seconds: number): void;
}

/**
 * A bound on this process's concurrent hot-path database writes (event inserts, device state, metric
 * counters). FerretDB's SQLite backend has a single writer: a write that finds the lock taken waits in
 * SQLite's busy handler, which polls with sleeps of up to 100 ms. On this project's machine two concurrent
 * streams of 50-document inserts had a p99 of 47 ms where one stream had 9 ms, for the same throughput, and
 * four streams 235 ms. So there the lane lets one write through at a time, and the coalescing event writer
 * turns the waiting into larger inserts; on MongoDB it is unbounded.
 */
export class WriteLane {
  private active = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(
    readonly capacity: number,
    private readonly observer?: LaneObserver,
  ) {}

  /** `configured` when > 0 (DB_WRITE_CONCURRENCY); else 1 on FerretDB and unbounded on MongoDB. */
  static for(onFerretDb: boolean, configured: number, observer?: LaneObserver): WriteLane {
    const capacity = configured > 0 ? configured : onFerretDb ? 1 : Number.POSITIVE_INFINITY;
    return new WriteLane(capacity, observer);
  }

  /** A lane that never makes a write wait (MongoDB; stores built without one). */
  static unbounded(): WriteLane {
    return new WriteLane(Number.POSITIVE_INFINITY);
  }

  /** Whether writes can ever wait here. */
  get bounded(): boolean {
    return this.capacity !== Number.POSITIVE_INFINITY;
  }

  /** Writes queued behind the ones running. */
  get queued(): number {
    return this.waiting.length;
  }

  /** Runs `work` once a slot is free, first come first served; the slot passes straight to the next waiter. */
  async run<T>(writer: LaneWriter, work: () => Promise<T>): Promise<T> {
    const queuedAt = performance.now();
    if (this.active < this.capacity) this.active++;
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    const startedAt = performance.now();
    this.observer?.waited(writer, (startedAt - queuedAt) / 1000);
    try {
      return await work();
    } finally {
      this.observer?.held(writer, (performance.now() - startedAt) / 1000);
      const next = this.waiting.shift();
      if (next) next();
      else this.active--;
    }
  }
}

const LANE_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1];

/**
 * `otaguard_write_lane_held_seconds{writer}` (how long each write held a slot; on a one-writer lane the rate
 * of its `_sum` is the lane's utilisation) and `otaguard_write_lane_wait_seconds{writer}` (how long it waited
 * for one).
 */
export function prometheusLaneObserver(registry: Registry): LaneObserver {
  const byWriter = (name: string, help: string): Histogram<'writer'> =>
    new Histogram({ name, help, labelNames: ['writer'] as const, buckets: LANE_BUCKETS, registers: [registry] });
  const held = byWriter(
    'otaguard_write_lane_held_seconds',
    'Time a hot-path database write held a slot of the write lane, by writer (events, device_state, counters)',
  );
  const waited = byWriter('otaguard_write_lane_wait_seconds', 'Time a hot-path database write waited for a slot of the write lane, by writer');
  return {
    waited: (writer, seconds) => waited.observe({ writer }, seconds),
    held: (writer, seconds) => held.observe({ writer }, seconds),
  };
}
