import { performance } from 'node:perf_hooks';
import type { Logger } from '../logger.js';
import type { CounterStore } from './counter-store.js';
import { Increments } from './increments.js';
import type { MetricsInstruments } from './metrics-instruments.js';
import type { RedisMutex } from './redis-mutex.js';

export interface CounterWriterDeps {
  counters: CounterStore;
  /** Held around counter writes (FerretDB loses concurrent updates of one document). */
  writeLease: RedisMutex;
  logger: Logger;
  instruments: MetricsInstruments;
  /**
   * True while other writes wait for the database (FerretDB's one-writer lane). Counter writes then wait
   * too, for at most COUNTER_WRITE_MAX_DELAY_MS, instead of taking a lane turn from ingest on every flush.
   */
  databaseBusy?: () => boolean;
}

/** The longest counted increments wait for a quiet database before they are written anyway. */
export const COUNTER_WRITE_MAX_DELAY_MS = 1000;

/**
 * The metrics aggregator's counted, not yet written increments, and their writes: one unordered bulk of
 * positive `$inc` upserts under the write lease. A failed write keeps its increments for the next one.
 */
export class CounterWriter {
  private unwritten = new Increments();
  /** When the oldest events counted into `unwritten` were buffered (for the flush-lag histogram). */
  private unwrittenSince: number | undefined;
  private lastWrite = 0;

  constructor(private readonly deps: CounterWriterDeps) {}

  /** Where counting adds its increments; what is in it goes with the next write. */
  get pending(): Increments {
    return this.unwritten;
  }

  /**
   * Writes the pending increments, unless the database is busy and the last write was under a second ago
   * (then they stay pending). `started`: when the oldest events counted since the last call were buffered;
   * `force`: write whatever the lane is doing (closing).
   */
  async write(started: number | undefined, force = false): Promise<void> {
    if (this.unwritten.size === 0) return;
    if (started !== undefined) this.unwrittenSince = Math.min(this.unwrittenSince ?? started, started);
    const now = performance.now();
    if (!force && this.deps.databaseBusy?.() && now - this.lastWrite < COUNTER_WRITE_MAX_DELAY_MS) return;
    this.lastWrite = now;
    const since = this.unwrittenSince;
    this.unwrittenSince = undefined;
    const rows = this.unwritten;
    this.unwritten = new Increments();
    const { instruments } = this.deps;
    let failed: Increments;
    try {
      // Rows the database rejected individually were not applied: only those are retried.
      const written = await this.deps.writeLease.run(() => this.deps.counters.increment(rows.list()));
      failed = written ? Increments.of(written.value) : rows;
    } catch (err) {
      failed = rows;
      this.deps.logger.warn({ err: (err as Error).message, cells: rows.size }, 'metrics counter write failed; retrying');
    }
    failed.merge(this.unwritten);
    this.unwritten = failed;
    instruments.flushes.inc({ result: failed.size === 0 ? 'ok' : 'error' });
    instruments.deviceIncrements.inc(rows.total() - failed.total());
    if (failed.size > 0) this.unwrittenSince = since;
    else if (since !== undefined) instruments.flushLag.observe((performance.now() - since) / 1000);
  }
}
