import type { mongo } from 'mongoose';

/**
 * FerretDB 1.24 (SQLite backend) deletes every match of a deleteMany in one SQL statement with one bound
 * variable per document, and SQLite refuses more than 32,766: a deleteMany matching more fails whole
 * ("too many SQL variables"), deleting nothing. Above this many matches, delete in `_id` ranges instead.
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

/**
 * Deletes every document matching `filter`; returns how many. With `rangeSize` set (FerretDB) and more
 * matches expected than that, or when the single deleteMany hits the limit anyway, the matching ids are
 * read once (memory: one id per match), sorted, and deleted in `_id` ranges of `rangeSize`.
 */
export async function deleteAllMatching(
  collection: mongo.Collection,
  filter: mongo.Filter<mongo.Document>,
  options: { rangeSize?: number; expected?: number } = {},
): Promise<number> {
  const rangeSize = options.rangeSize ?? FERRETDB_DELETE_RANGE;
  if (options.rangeSize === undefined || (options.expected ?? 0) <= rangeSize) {
    try {
      return (await collection.deleteMany(filter)).deletedCount;
    } catch (err) {
      if (!tooManyVariables(err)) throw err;
    }
  }
  const ids: unknown[] = [];
  for await (const doc of collection.find(filter, { projection: { _id: 1 }, batchSize: 10_000 })) ids.push(doc._id);
  ids.sort(compareIds);
  let deleted = 0;
  for (let i = 0; i < ids.length; i += rangeSize) {
    const upper = ids[i + rangeSize];
    const range: mongo.Document = upper === undefined ? { $gte: ids[i] } : { $gte: ids[i], $lt: upper };
    deleted += (await collection.deleteMany({ $and: [filter, { _id: range }] } as mongo.Filter<mongo.Document>)).deletedCount;
  }
  return deleted;
}
