import { cellFactKey, cellFacts, isLater, registerValue, runningCells, type CellFact } from './cells.js';
import {
  directFacts,
  historyFacts,
  installFacts,
  needsHistory,
  readyObservation,
  subjectVersion,
  type CountedEvent,
} from './event-facts.js';
import type { VersionHistoryEvent } from './launch-rules.js';
import { bucketStart, cellId, GRANULARITIES, type CounterCell, type CounterValues, type Fact, type ReadyObservation } from './metric-definitions.js';

export interface ExactCell {
  cell: CounterCell;
  values: CounterValues;
}

export interface ExactCounts {
  /** Every non-empty counter cell with a bucket start in the range, by cellId. */
  cells: Map<string, ExactCell>;
  /** The distinct (cell, field, device) units counted: what the live dedupe markers should hold. */
  units: CellFact[];
  /** Each device's latest confirmation per bucket: what the live running registers should hold. */
  latest: Array<ReadyObservation & { g: CounterCell['g']; t: number }>;
}

function historyKey(appId: string, pid: string, version: string): string {
  return `${appId}\u0000${pid}\u0000${version}`;
}

/** Groups events into per-(device, version) histories, as launch rules read them. */
export function histories(events: readonly CountedEvent[]): Map<string, VersionHistoryEvent[]> {
  const out = new Map<string, VersionHistoryEvent[]>();
  for (const e of events) {
    const key = historyKey(e.appId, e.pid, subjectVersion(e));
    const list = out.get(key) ?? [];
    list.push({ type: e.type, at: e.at });
    out.set(key, list);
  }
  return out;
}

export function historyOf(all: Map<string, VersionHistoryEvent[]>, appId: string, pid: string, version: string): VersionHistoryEvent[] {
  return all.get(historyKey(appId, pid, version)) ?? [];
}

/**
 * The exact counters of buckets starting in [from, to), recomputed from raw events — the definition the
 * live pipeline must agree with. `events` must cover [from − 1 h, to + 1 h) so that launches and
 * rollbacks near the edges are judged with their whole history.
 */
export function countExactly(events: readonly CountedEvent[], range: { from: number; to: number }, now: number): ExactCounts {
  const all = histories(events);
  const facts: Fact[] = [];
  const ready: ReadyObservation[] = [];
  for (const e of events) {
    if (e.at >= range.from && e.at < range.to) {
      facts.push(...directFacts(e));
      const obs = readyObservation(e);
      if (obs) ready.push(obs);
    }
    if (needsHistory(e)) facts.push(...historyFacts(e, historyOf(all, e.appId, e.pid, subjectVersion(e)), now));
    if (e.type === 'installed') {
      const { type: _type, at, fromVersion: _from, ...device } = e;
      const verdict = installFacts({ ...device, installedAt: at }, historyOf(all, e.appId, e.pid, e.version), now);
      if (verdict !== 'pending') facts.push(...verdict);
    }
  }

  const cells = new Map<string, ExactCell>();
  const bump = (cell: CounterCell, field: keyof CounterValues): void => {
    const id = cellId(cell);
    const entry = cells.get(id) ?? { cell, values: {} };
    entry.values[field] = (entry.values[field] ?? 0) + 1;
    cells.set(id, entry);
  };

  const units = new Map<string, CellFact>();
  for (const f of facts) {
    if (f.at < range.from || f.at >= range.to) continue;
    for (const unit of cellFacts(f)) {
      const key = cellFactKey(unit);
      if (units.has(key)) continue;
      units.set(key, unit);
      bump(unit.cell, unit.field);
    }
  }

  const latest = new Map<string, ReadyObservation & { g: CounterCell['g']; t: number }>();
  for (const obs of ready) {
    for (const g of GRANULARITIES) {
      const t = bucketStart(obs.at, g);
      const key = `${g}|${t}|${obs.pid}`;
      const current = latest.get(key);
      if (!current || isLater(registerValue(obs), registerValue(current))) latest.set(key, { ...obs, g, t });
    }
  }
  for (const obs of latest.values()) {
    for (const cell of runningCells(obs.appId, obs.g, obs.t, obs.platform, registerValue(obs).tag)) bump(cell, 'runIn');
  }
  return { cells, units: [...units.values()], latest: [...latest.values()] };
}
