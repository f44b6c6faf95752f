import { Redis, type RedisOptions } from 'ioredis';
import mongoose, { type Connection } from 'mongoose';

/**
 * Writes wait for the journal (`j: true`) unless the URL says otherwise (`journal=`). A 202 must survive a
 * crash of the database too, not only of the api: with `w: 1` alone a standalone MongoDB acknowledges a
 * write once it is applied in memory and journals it within the next 100 ms. FerretDB/SQLite commits are
 * fsynced either way. Options given here override the URL's, so a URL that sets `journal` is left alone.
 */
export function durableWriteOptions(url: string): { journal?: true } {
  const query = url.includes('?') ? url.slice(url.indexOf('?') + 1) : '';
  const keys = [...new URLSearchParams(query).keys()].map((key) => key.toLowerCase());
  return keys.includes('journal') ? {} : { journal: true };
}

export async function connectMongo(url: string, options: { serverSelectionTimeoutMS?: number } = {}): Promise<Connection> {
  const connection = mongoose.createConnection(url, {
    serverSelectionTimeoutMS: options.serverSelectionTimeoutMS ?? 5000,
    maxPoolSize: 50,
    ...durableWriteOptions(url),
    // Indexes are built explicitly by ensureIndexes() before the process takes traffic.
    autoIndex: false,
    autoCreate: false,
  });
  await connection.asPromise();
  return connection;
}

/** Whether the server is FerretDB, which identifies itself in `buildInfo`. */
export async function servedByFerretDb(db: mongoose.mongo.Db): Promise<boolean> {
  const info = await db.admin().command({ buildInfo: 1 });
  return typeof info.ferretdbVersion === 'string';
}

export type IndexSpec = [Record<string, 1 | -1>, Record<string, unknown>];

/**
 * The indexes to build of those a schema declares: all of them where the server answers queries from
 * secondary indexes, else only the unique ones (they are constraints; see `secondaryIndexesServeQueries`).
 */
export function indexesToBuild(declared: readonly IndexSpec[], secondaryServeQueries: boolean): IndexSpec[] {
  return declared.filter(([, options]) => secondaryServeQueries || options.unique === true);
}

/**
 * Whether the server answers queries from non-unique secondary indexes. FerretDB 1.24's SQLite backend
 * never does: it pushes down to SQL only a filter that is exactly `{_id: <string>}` and evaluates every
 * other filter itself over the whole collection. There such an index only costs every write: the two on
 * `events` took 40% of FerretDB's CPU per inserted document (100 µs with them, 60 µs without, measured).
 * That backend is told apart by its explain plans, SQLite's `EXPLAIN QUERY PLAN` rows ("id=… detail=…");
 * MongoDB and FerretDB's PostgreSQL backend (which pushes filters down) keep every index.
 */
export async function secondaryIndexesServeQueries(db: mongoose.mongo.Db, collection: string): Promise<boolean> {
  if (!(await servedByFerretDb(db))) return true;
  const explained = await db.command({ explain: { find: collection, filter: {} } });
  const plan = (explained.queryPlanner as { Plan?: unknown } | undefined)?.Plan;
  const sqlite = Array.isArray(plan) && plan.length > 0 && plan.every((row) => typeof row === 'string' && row.startsWith('id='));
  return !sqlite;
}

export interface IndexReport {
  /** Declared indexes left out. */
  skipped: number;
  /** FerretDB's SQLite backend: the server that never reads secondary indexes (and scans for `_id`). */
  sqliteBackend: boolean;
}

/**
 * Creates the models' collections, then their indexes: every declared index, except the non-unique ones
 * on a server that never reads them (see `secondaryIndexesServeQueries`).
 */
export async function ensureIndexes(connection: Connection): Promise<IndexReport> {
  const models = Object.values(connection.models);
  for (const model of models) {
    await model.createCollection().catch((err: { codeName?: string }) => {
      if (err.codeName !== 'NamespaceExists') throw err;
    });
  }
  const first = models[0];
  const secondary = first && connection.db ? await secondaryIndexesServeQueries(connection.db, first.collection.collectionName) : true;
  let skipped = 0;
  for (const model of models) {
    const declared = model.schema.indexes() as IndexSpec[];
    const build = indexesToBuild(declared, secondary);
    skipped += declared.length - build.length;
    for (const [fields, options] of build) await rawCollection(model).createIndex(fields, options);
  }
  return { skipped, sqliteBackend: !secondary };
}

/**
 * Request-path Redis: fails fast when Redis is down (no offline queue, one retry) so the caller can
 * answer 503 instead of hanging. Workers use `workerRedisOptions` and reconnect forever.
 */
export function requestRedisOptions(): RedisOptions {
  // Auto-pipelining: the commands a tick issues (a batch's rate limits and generation reads, other
  // requests' likewise) leave in one socket write instead of one each.
  return { enableOfflineQueue: false, maxRetriesPerRequest: 1, connectTimeout: 2000, lazyConnect: false, enableAutoPipelining: true };
}


export function createRedis(url: string, options: RedisOptions): Redis {
  const redis = new Redis(url, options);
  // Connection errors are reported by readiness and by failing commands; an unhandled 'error' would crash.
  redis.on('error', () => undefined);
  return redis;
}

export async function waitForRedis(redis: Redis, timeoutMs = 5000): Promise<void> {
  if (redis.status === 'ready') return;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('Redis is not reachable')), timeoutMs);
    redis.once('ready', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** The driver collection behind a model, typed with the model's document shape (for bulk, unhydrated I/O). */
export function rawCollection<T extends mongoose.mongo.Document>(model: mongoose.Model<T>): mongoose.mongo.Collection<T> {
  return model.collection as unknown as mongoose.mongo.Collection<T>;
}

/** MongoDB's code for a write refused by a unique index (FerretDB uses the same). */
export const DUPLICATE_KEY = 11000;

export function isDuplicateKeyError(err: unknown): boolean {
  return (err as { code?: unknown } | null)?.code === DUPLICATE_KEY;
}

interface BulkWriteFailure {
  name?: string;
  writeErrors?: { index: number; code?: number } | Array<{ index: number; code?: number }>;
  writeConcernError?: unknown;
}

/**
 * The indexes of an unordered bulk write (insertMany, bulkWrite) that failed only because their `_id` or
 * another unique key exists; undefined when anything else went wrong.
 */
export function duplicateKeyIndexes(err: unknown): number[] | undefined {
  const failure = err as BulkWriteFailure | null;
  if (!failure || failure.name !== 'MongoBulkWriteError' || failure.writeConcernError) return undefined;
  const writeErrors = failure.writeErrors === undefined ? [] : [failure.writeErrors].flat();
  if (writeErrors.length === 0 || writeErrors.some((e) => e.code !== DUPLICATE_KEY)) return undefined;
  return writeErrors.map((e) => e.index);
}
