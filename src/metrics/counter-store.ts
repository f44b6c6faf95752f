import { Schema, type Connection, type Model } from 'mongoose';
import { rawCollection } from '../connections.js';
import { findByIds, type IdLookup } from '../ingest/id-lookup.js';
import { deleteAllMatching } from '../privacy/bulk-delete.js';
import { WriteLane } from '../write-lane.js';
import {
  BUCKET_MS,
  COUNTER_FIELDS,
  GRANULARITIES,
  type CounterCell,
  type CounterField,
  type CounterValues,
  type Granularity,
} from './metric-definitions.js';

export interface CounterRow {
  cell: CounterCell;
  values: CounterValues;
}

export interface CounterQuery {
  appId: string;
  g: Granularity;
  from: number;
  to: number;
  /** A channel name, or ALL for the rows that count a device once across channels. */
  channel: string;
  platform?: string;
  /** Restrict to these versions (ALL is the all-versions row). */
  versions?: readonly string[];
}

/**
 * Aggregate device counts. One document per (app, granularity, bucket) holds every cell of that bucket,
 * so every read and write addresses documents by `_id`: the one filter FerretDB 1.24 hands to SQLite
 * rather than decoding every document itself. SQLite still scans the table for it, so on FerretDB the
 * cost of each read and write grows with the collection (README, "FerretDB limits"); the retention job
 * keeps minute and hour documents for a bounded time. Holds no pids: it survives erasure.
 */
export interface CounterStore {
  /**
   * Adds positive deltas (commutative). Resolves with the rows the database rejected (not applied);
   * rejects when the outcome is unknown. Callers hold the counter write lease (see RedisMutex).
   */
  increment(rows: readonly CounterRow[]): Promise<CounterRow[]>;
  find(query: CounterQuery): Promise<CounterRow[]>;
  /** Every cell of an app whose bucket starts in [from, to), all granularities. */
  findRange(appId: string, from: number, to: number): Promise<CounterRow[]>;
  /** Every cell of the buckets holding these cells. */
  findBuckets(cells: ReadonlyArray<Pick<CounterCell, 'appId' | 'g' | 't'>>): Promise<CounterRow[]>;
  /** Sets cells to exact values; a row without values removes the cell. Callers hold the write lease. */
  set(rows: readonly CounterRow[]): Promise<void>;
  /** Deletes every app's `g` documents whose bucket starts before `before` (retention); how many. */
  purgeBefore(g: Granularity, before: number): Promise<number>;
}

interface CounterDoc {
  _id: string;
  appId: string;
  g: Granularity;
  t: Date;
  c: Record<string, Partial<Record<CounterField, number>>>;
}

const counterSchema = new Schema<CounterDoc>(
  {
    _id: { type: String, required: true },
    appId: { type: String, required: true },
    g: { type: String, required: true, enum: GRANULARITIES },
    t: { type: Date, required: true },
    c: { type: Schema.Types.Mixed, default: {} },
  },
  { versionKey: false, collection: 'metric_counters', minimize: false },
);
// Retention of old minute/hour documents and ad-hoc inspection; the hot paths address documents by _id.
counterSchema.index({ appId: 1, g: 1, t: 1 });

// Field names may not contain '.', which versions and channels do; '~' appears in neither.
const enc = (s: string): string => s.replaceAll('.', '~');
const dec = (s: string): string => s.replaceAll('~', '.');

export function counterDocId(appId: string, g: Granularity, t: number): string {
  return `${appId}|${g}|${t}`;
}

function cellKey(cell: CounterCell): string {
  return `${enc(cell.channel)}|${cell.platform}|${enc(cell.version)}`;
}

function rowsOf(doc: CounterDoc): CounterRow[] {
  const t = new Date(doc.t).getTime();
  return Object.entries(doc.c ?? {}).map(([key, raw]) => {
    const [channel = '', platform = '', version = ''] = key.split('|');
    const values: CounterValues = {};
    for (const f of COUNTER_FIELDS) {
      const v = raw[f];
      if (typeof v === 'number' && v !== 0) values[f] = v;
    }
    return { cell: { appId: doc.appId, g: doc.g, t, channel: dec(channel), platform, version: dec(version) }, values };
  });
}

export class MongoCounterStore implements CounterStore {
  readonly model: Model<CounterDoc>;

  constructor(
    connection: Connection,
    private readonly lookup: IdLookup = 'in',
    /** The flush's increments share the process's write lane with ingest (see write-lane.ts). */
    private readonly lane: WriteLane = WriteLane.unbounded(),
  ) {
    this.model = connection.model<CounterDoc>('MetricCounter', counterSchema);
  }

  async increment(rows: readonly CounterRow[]): Promise<CounterRow[]> {
    const byDoc = new Map<string, { rows: CounterRow[]; inc: Record<string, number> }>();
    for (const row of rows) {
      const id = counterDocId(row.cell.appId, row.cell.g, row.cell.t);
      const entry = byDoc.get(id) ?? { rows: [], inc: {} };
      for (const [f, v] of Object.entries(row.values)) if (v > 0) entry.inc[`c.${cellKey(row.cell)}.${f}`] = v;
      entry.rows.push(row);
      byDoc.set(id, entry);
    }
    const docs = [...byDoc.entries()].filter(([, e]) => Object.keys(e.inc).length > 0);
    if (docs.length === 0) return [];
    const ops = docs.map(([_id, e]) => {
      const { appId, g, t } = e.rows[0]!.cell;
      return { updateOne: { filter: { _id }, update: { $inc: e.inc, $setOnInsert: { appId, g, t: new Date(t) } }, upsert: true } };
    });
    if (this.lane.bounded) return this.incrementOneByOne(docs, ops);
    try {
      await rawCollection(this.model).bulkWrite(ops, { ordered: false });
      return [];
    } catch (err) {
      const failure = err as { name?: string; writeErrors?: { index: number } | Array<{ index: number }> };
      if (failure.name !== 'MongoBulkWriteError' || failure.writeErrors === undefined) throw err;
      return [failure.writeErrors].flat().flatMap((e) => docs[e.index]?.[1].rows ?? []);
    }
  }

  /**
   * On a bounded write lane (FerretDB), one document per turn: ingest's inserts queued meanwhile go
   * between them instead of waiting for the whole flush (a second's worth of counters held the lane
   * about 45 ms at 5,500 events/s). Returns the rows of documents that failed; throws only when all did.
   */
  private async incrementOneByOne(
    docs: ReadonlyArray<[string, { rows: CounterRow[] }]>,
    ops: ReadonlyArray<{ updateOne: { filter: { _id: string }; update: Record<string, unknown>; upsert: boolean } }>,
  ): Promise<CounterRow[]> {
    const failed: CounterRow[] = [];
    let firstError: unknown;
    for (const [i, { updateOne }] of ops.entries()) {
      try {
        await this.lane.run('counters', () => rawCollection(this.model).updateOne(updateOne.filter, updateOne.update, { upsert: updateOne.upsert }));
      } catch (err) {
        firstError ??= err;
        failed.push(...docs[i]![1].rows);
      }
    }
    if (firstError !== undefined && failed.length === docs.reduce((n, [, e]) => n + e.rows.length, 0)) throw firstError;
    return failed;
  }

  async find(q: CounterQuery): Promise<CounterRow[]> {
    const ids: string[] = [];
    for (let t = q.from; t < q.to; t += BUCKET_MS[q.g]) ids.push(counterDocId(q.appId, q.g, t));
    const versions = q.versions ? new Set(q.versions) : undefined;
    return (await this.byIds(ids))
      .flatMap(rowsOf)
      .filter(
        (r) =>
          r.cell.channel === q.channel &&
          (q.platform === undefined || r.cell.platform === q.platform) &&
          (versions === undefined || versions.has(r.cell.version)),
      );
  }

  async findRange(appId: string, from: number, to: number): Promise<CounterRow[]> {
    const ids: string[] = [];
    for (const g of GRANULARITIES) {
      for (let t = Math.ceil(from / BUCKET_MS[g]) * BUCKET_MS[g]; t < to; t += BUCKET_MS[g]) ids.push(counterDocId(appId, g, t));
    }
    return (await this.byIds(ids)).flatMap(rowsOf);
  }

  async findBuckets(cells: ReadonlyArray<Pick<CounterCell, 'appId' | 'g' | 't'>>): Promise<CounterRow[]> {
    const ids = new Set(cells.map((c) => counterDocId(c.appId, c.g, c.t)));
    return (await this.byIds([...ids])).flatMap(rowsOf);
  }

  async set(rows: readonly CounterRow[]): Promise<void> {
    const byDoc = new Map<string, { cell: CounterCell; $set: Record<string, unknown>; $unset: Record<string, ''> }>();
    for (const { cell, values } of rows) {
      const id = counterDocId(cell.appId, cell.g, cell.t);
      const entry = byDoc.get(id) ?? { cell, $set: {}, $unset: {} };
      const present = Object.entries(values).filter(([, v]) => v > 0);
      if (present.length > 0) entry.$set[`c.${cellKey(cell)}`] = Object.fromEntries(present);
      else entry.$unset[`c.${cellKey(cell)}`] = '';
      byDoc.set(id, entry);
    }
    const ops = [...byDoc.entries()].map(([_id, { cell, $set, $unset }]) => {
      const update: Record<string, unknown> = { $setOnInsert: { appId: cell.appId, g: cell.g, t: new Date(cell.t) } };
      if (Object.keys($set).length > 0) update.$set = $set;
      if (Object.keys($unset).length > 0) update.$unset = $unset;
      return { updateOne: { filter: { _id }, update, upsert: Object.keys($set).length > 0 } };
    });
    if (ops.length > 0) await rawCollection(this.model).bulkWrite(ops, { ordered: false });
  }

  purgeBefore(g: Granularity, before: number): Promise<number> {
    return deleteAllMatching(rawCollection(this.model), { g, t: { $lt: new Date(before) } });
  }

  /** `$in` on MongoDB; on FerretDB, whose `$in` is far slower, single-`_id` queries 64 at a time (see id-lookup.ts). */
  private async byIds(ids: readonly string[]): Promise<CounterDoc[]> {
    const collection = rawCollection(this.model);
    if (this.lookup === 'in') return findByIds(collection, ids, {}, 'in');
    const out: CounterDoc[] = [];
    for (let i = 0; i < ids.length; i += 64) out.push(...(await findByIds(collection, ids.slice(i, i + 64), {}, 'each')));
    return out;
  }
}
