import type { mongo } from 'mongoose';

/**
 * FerretDB 1.24 (SQLite backend) deletes every match of a deleteMany in one SQL statement with one bound
 * variable per document, and SQLite refuses more than 32,766: a deleteMany matching more fails whole
 * ("too many SQL variables"), deleting nothing. There, delete in `_id` ranges of at most this many.
 */
export const FERRETDB_DELETE_RANGE = 30_000;

function tooManyVariables(err: unknown): boolean {
  return err instanceof Error && /too many SQL variables/i.test(err.message);
}

function compareIds(a: unknown, b: unknown): number {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  const x = String(a);
  const y = String(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

/** The `_id`s of the matches, sorted (memory: one id per match). */
export async function matchingIds<T extends mongo.Document>(collection: mongo.Collection<T>, filter: mongo.Filter<T>): Promise<unknown[]> {
  const ids: unknown[] = [];
  for await (const doc of collection.find(filter, { projection: { _id: 1 }, batchSize: 10_000 })) ids.push(doc._id);
  return ids.sort(compareIds);
}

/** One deleteMany per range of `rangeSize` consecutive ids (each still filtered by `filter`). */
export async function deleteIdRanges<T extends mongo.Document>(
  collection: mongo.Collection<T>,
  filter: mongo.Filter<T>,
  ids: readonly unknown[],
  rangeSize: number,
): Promise<number> {
  let deleted = 0;
  for (let i = 0; i < ids.length; i += rangeSize) {
    const upper = ids[i + rangeSize];
    const range: mongo.Document = upper === undefined ? { $gte: ids[i] } : { $gte: ids[i], $lt: upper };
    deleted += (await collection.deleteMany({ $and: [filter, { _id: range }] } as mongo.Filter<T>)).deletedCount;
  }
  return deleted;
}

/**
 * Deletes every document matching `filter`; returns how many. When the single deleteMany hits FerretDB's
 * limit it deleted nothing, and the matches are deleted in `_id` ranges instead.
 */
export async function deleteAllMatching<T extends mongo.Document>(
  collection: mongo.Collection<T>,
  filter: mongo.Filter<T>,
  rangeSize = FERRETDB_DELETE_RANGE,
): Promise<number> {
  try {
    return (await collection.deleteMany(filter)).deletedCount;
  } catch (err) {
    if (!tooManyVariables(err)) throw err;
  }
  return deleteIdRanges(collection, filter, await matchingIds(collection, filter), rangeSize);
}
