import type { Connection, mongo } from 'mongoose';
import { servedByFerretDb } from '../connections.js';

/**
 * How to fetch many documents by `_id`. MongoDB answers one `$in` from the primary key. FerretDB 1.24's
 * SQLite backend pushes down to SQL only a filter that is exactly `{_id: <string>}`; anything else, `$in`
 * included, is evaluated in FerretDB over every document of the collection. Even the pushed-down filter
 * scans the table — its expression (`->'$._id'`) is not the one the `_id` index is built on (`->"_id"`),
 * so SQLite cannot use the index (`EXPLAIN QUERY PLAN` says SCAN) — but SQLite's scan is far cheaper than
 * FerretDB's, so there N parallel single-`_id` queries beat one `$in`. Hot paths avoid both where they
 * can (see generations.ts).
 */
export type IdLookup = 'in' | 'each';

/** Asks the server once at start-up. */
export async function detectIdLookup(connection: Connection): Promise<IdLookup> {
  const db = connection.db;
  if (!db) return 'in';
  return (await servedByFerretDb(db)) ? 'each' : 'in';
}

/** Documents whose `_id` is in `ids` (missing ones are simply absent), in one round trip or N parallel ones. */
export async function findByIds<T extends mongo.Document>(
  collection: mongo.Collection<T>,
  ids: readonly string[],
  projection: mongo.Document,
  lookup: IdLookup,
): Promise<T[]> {
  const unique = [...new Set(ids)];
  if (unique.length === 0) return [];
  if (lookup === 'in' && unique.length > 1) {
    return (await collection.find({ _id: { $in: unique } } as mongo.Filter<T>, { projection }).toArray()) as T[];
  }
  const found: Array<T | null> = await Promise.all(
    unique.map((id) => collection.findOne({ _id: id } as mongo.Filter<T>, { projection }) as Promise<T | null>),
  );
  return found.filter((doc): doc is T => doc !== null);
}

/** Deletes the documents whose `_id` is in `ids`; returns how many went. Same strategy as findByIds. */
export async function deleteByIds<T extends mongo.Document>(collection: mongo.Collection<T>, ids: readonly string[], lookup: IdLookup): Promise<number> {
  const unique = [...new Set(ids)];
  if (unique.length === 0) return 0;
  if (lookup === 'in' && unique.length > 1) {
    return (await collection.deleteMany({ _id: { $in: unique } } as mongo.Filter<T>)).deletedCount;
  }
  const results = await Promise.all(unique.map((id) => collection.deleteOne({ _id: id } as mongo.Filter<T>)));
  return results.reduce((sum, r) => sum + r.deletedCount, 0);
}
