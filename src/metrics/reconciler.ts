import type { Clock } from '../clock.js';
import type { Logger } from '../logger.js';
import type { CounterRow, CounterStore } from './counter-store.js';
import { markerTtlMs, type DeviceMarks } from './device-marks.js';
import type { EventHistory, HistoricEvent } from './event-history.js';
import { countExactly } from './exact-counts.js';
import { ROLLBACK_LOOKBACK_MS } from './launch-rules.js';
import {
  BUCKET_MS,
  bucketKept,
  bucketStart,
  cellId,
  COUNTER_FIELDS,
  GRANULARITIES,
  type CounterCell,
  type CounterRetention,
  type CounterValues,
} from './metric-definitions.js';
import type { MetricsInstruments } from './metrics-instruments.js';
import type { RedisMutex } from './redis-mutex.js';

/** Events received this recently may still sit in some process's flush buffer: their buckets wait a pass. */
export const SETTLE_MS = 15_000;

export interface ReconcileReport {
  appId: string;
  day: string;
  events: number;
  cells: number;
  corrected: number;
  /** Cells left for the next pass: recent events may still be in flight, or the write lease was busy. */
  deferred: number;
}

/** Compares what a cell means: running devices are runIn − runOut, so (5, 2) and (3, 0) agree. */
function sameMeaning(a: CounterValues, b: CounterValues): boolean {
  for (const f of COUNTER_FIELDS) {
    if (f === 'runIn' || f === 'runOut') continue;
    if ((a[f] ?? 0) !== (b[f] ?? 0)) return false;
  }
  const running = (v: CounterValues): number => Math.max(0, (v.runIn ?? 0) - (v.runOut ?? 0));
  return running(a) === running(b);
}

/**
 * What a cell should hold: the exact counts, plus the update-check activity it cannot recount. Update checks
 * are not raw events, so `chkActive` (devices a check made active before any event did) is kept — but only
 * as far as the stored total exceeds the event recount: a device counted by its check and later found in
 * the events (its event's flush lost, say) moves to `active` instead of counting twice. The cost is an
 * undercount, never an overcount, when a lost flush and a check-only device share a cell.
 */
export function targetValues(exact: CounterValues, stored: CounterValues): CounterValues {
  const checks = stored.chkActive ?? 0;
  const kept = Math.max(0, Math.min(checks, (stored.active ?? 0) + checks - (exact.active ?? 0)));
  return kept > 0 ? { ...exact, chkActive: kept } : exact;
}

/** The cells among `cells` whose stored values do not mean what they should, with what they should hold. */
function differingCells(cells: readonly CounterCell[], exact: ReadonlyMap<string, { values: CounterValues }>, stored: readonly CounterRow[]): CounterRow[] {
  const have = new Map(stored.map((r) => [cellId(r.cell), r.values]));
  return cells.flatMap((cell) => {
    const current = have.get(cellId(cell)) ?? {};
    const values = targetValues(exact.get(cellId(cell))?.values ?? {}, current);
    return sameMeaning(values, current) ? [] : [{ cell, values }];
  });
}

/** Buckets that recent (possibly still in-flight) events could change, including launch attribution. */
function unsettledBuckets(events: readonly HistoricEvent[], now: number): Set<string> {
  const out = new Set<string>();
  for (const e of events) {
    if (e.receivedAt <= now - SETTLE_MS) continue;
    const earliest = e.type === 'crash' || e.type === 'rolled_back' ? e.at - ROLLBACK_LOOKBACK_MS : e.at;
    for (const g of GRANULARITIES) {
      for (let t = bucketStart(earliest, g); t <= e.at; t += BUCKET_MS[g]) out.add(`${g}|${t}`);
    }
  }
  return out;
}

/**
 * Recomputes one app-day of counters from the raw events still in retention and sets every cell that
 * disagrees to the exact value. Corrections are re-checked and written holding the counter write lease,
 * so no flush lands between the check and the write. It also re-seeds the live dedupe markers and running
 * registers, so a device it counted is not counted again by a later event.
 */
export class Reconciler {
  constructor(
    private readonly counters: CounterStore,
    private readonly history: EventHistory,
    private readonly marks: DeviceMarks,
    private readonly writeLease: RedisMutex,
    private readonly clock: Clock,
    private readonly instruments: MetricsInstruments,
    private readonly logger: Logger,
    /** Cells of buckets the retention job has deleted are not written back. */
    private readonly kept: CounterRetention = {},
  ) {}

  async reconcileDay(appId: string, dayMs: number): Promise<ReconcileReport> {
    const day = bucketStart(dayMs, 'day');
    const range = { from: day, to: day + BUCKET_MS.day };
    const now = this.clock.now().getTime();
    const events = await this.history.range(appId, range.from - ROLLBACK_LOOKBACK_MS, range.to + ROLLBACK_LOOKBACK_MS);
    const exact = countExactly(events, range, now);
    const unsettled = unsettledBuckets(events, now);
    const settled = (g: string, t: number): boolean => !unsettled.has(`${g}|${t}`);

    const report: ReconcileReport = { appId, day: new Date(day).toISOString(), events: events.length, cells: 0, corrected: 0, deferred: 0 };
    const stored = await this.counters.findRange(appId, range.from, range.to);
    const cells = new Map([...stored.map((r) => r.cell), ...[...exact.cells.values()].map((c) => c.cell)].map((c) => [cellId(c), c]));
    report.cells = cells.size;
    const retained = [...cells.values()].filter((cell) => bucketKept(this.kept, cell.g, cell.t, now));
    const differing = differingCells(retained, exact.cells, stored);
    const fixable = differing.map((r) => r.cell).filter((cell) => settled(cell.g, cell.t));
    report.deferred += differing.length - fixable.length;
    for (let i = 0; i < fixable.length; i += 200) {
      const chunk = fixable.slice(i, i + 200);
      const done = await this.writeLease.run(async () => {
        // Re-read under the lease: only cells that still differ are written, and no flush lands in between.
        const fresh = await this.counters.findBuckets(chunk);
        const rows = differingCells(chunk, exact.cells, fresh);
        await this.counters.set(rows);
        return rows.length;
      });
      if (done) report.corrected += done.value;
      else report.deferred += chunk.length;
    }

    const live = (g: (typeof GRANULARITIES)[number], t: number): boolean => settled(g, t) && markerTtlMs(g, t, now) > 0;
    await this.marks.claim(
      exact.units.filter((u) => live(u.cell.g, u.cell.t)),
      now,
    );
    await this.marks.setRegisters(
      exact.latest.filter((o) => live(o.g, o.t)).map((o) => ({ ...o, tag: `${o.version}|${o.channel}` })),
      now,
    );
    this.instruments.reconcileCorrections.inc(report.corrected);
    if (report.corrected > 0) this.logger.info(report, 'metrics reconciliation corrected counters');
    return report;
  }

  /** The scheduled pass: today and yesterday (UTC) of one app, where late events and lost flushes land. */
  async reconcileRecent(appId: string): Promise<ReconcileReport[]> {
    const today = bucketStart(this.clock.now().getTime(), 'day');
    return [await this.reconcileDay(appId, today - BUCKET_MS.day), await this.reconcileDay(appId, today)];
  }

  /** Days queued because their events arrived after the live horizon or were dropped under overload. */
  async reconcileDirty(limit = 50): Promise<ReconcileReport[]> {
    const out: ReconcileReport[] = [];
    const taken = await this.marks.takeDirty(limit);
    for (const [i, { appId, day }] of taken.entries()) {
      try {
        out.push(await this.reconcileDay(appId, day));
      } catch (err) {
        // Put back what this pass did not finish, so the next one does it.
        await this.marks.markDirty(new Set(taken.slice(i).map((d) => `${d.appId}|${d.day}`)));
        throw err;
      }
    }
    return out;
  }
}
