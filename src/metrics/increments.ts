import type { CounterRow } from './counter-store.js';
import { cellId, type CounterCell, type CounterField } from './metric-definitions.js';

/** Positive increments per counter cell, merged in memory between flushes. */
export class Increments {
  private readonly rows = new Map<string, CounterRow>();

  static of(rows: readonly CounterRow[]): Increments {
    const out = new Increments();
    for (const row of rows) for (const [field, by] of Object.entries(row.values)) out.add(row.cell, field as CounterField, by);
    return out;
  }

  add(cell: CounterCell, field: CounterField, by = 1): void {
    const id = cellId(cell);
    const row = this.rows.get(id) ?? { cell, values: {} };
    row.values[field] = (row.values[field] ?? 0) + by;
    this.rows.set(id, row);
  }

  merge(other: Increments): void {
    for (const row of other.list()) {
      for (const [field, by] of Object.entries(row.values)) this.add(row.cell, field as CounterField, by);
    }
  }

  list(): CounterRow[] {
    return [...this.rows.values()];
  }

  get size(): number {
    return this.rows.size;
  }

  /** The number of device counts held, for the flush counter. */
  total(): number {
    let n = 0;
    for (const row of this.rows.values()) for (const v of Object.values(row.values)) n += v;
    return n;
  }
}

/**
 * Markers this process already set or saw set, so a device sending ten events in a bucket costs one Redis
 * round trip, not ten. Entries expire with the marker; the whole cache is dropped when it grows too big.
 */
export class LocalMarkerCache {
  private readonly byKey = new Map<string, { expiresAt: number; fields: Set<string> }>();
  private entries = 0;

  constructor(private readonly maxEntries = 500_000) {}

  has(key: string, field: string, now: number): boolean {
    const bucket = this.byKey.get(key);
    if (!bucket) return false;
    if (bucket.expiresAt <= now) {
      this.entries -= bucket.fields.size;
      this.byKey.delete(key);
      return false;
    }
    return bucket.fields.has(field);
  }

  add(key: string, field: string, expiresAt: number): void {
    if (this.entries >= this.maxEntries) {
      this.byKey.clear();
      this.entries = 0;
    }
    const bucket = this.byKey.get(key) ?? { expiresAt, fields: new Set<string>() };
    if (!bucket.fields.has(field)) {
      bucket.fields.add(field);
      this.entries += 1;
    }
    this.byKey.set(key, bucket);
  }
}
