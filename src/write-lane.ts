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

  constructor(readonly capacity: number) {}

  /** `configured` when > 0 (DB_WRITE_CONCURRENCY); else 1 on FerretDB and unbounded on MongoDB. */
  static for(onFerretDb: boolean, configured: number): WriteLane {
    return configured > 0 ? new WriteLane(configured) : onFerretDb ? new WriteLane(1) : WriteLane.unbounded();
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
  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.active < this.capacity) this.active++;
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    try {
      return await work();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.active--;
    }
  }
}
