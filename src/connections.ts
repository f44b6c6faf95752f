import { Redis, type RedisOptions } from 'ioredis';
import mongoose, { type Connection } from 'mongoose';

export async function connectMongo(url: string, options: { serverSelectionTimeoutMS?: number } = {}): Promise<Connection> {
  const connection = mongoose.createConnection(url, {
    serverSelectionTimeoutMS: options.serverSelectionTimeoutMS ?? 5000,
    maxPoolSize: 50,
    // Indexes are built explicitly by ensureIndexes() before the process takes traffic.
    autoIndex: false,
    autoCreate: false,
  });
  await connection.asPromise();
  return connection;
}

/** Builds the models' indexes. FerretDB and MongoDB both accept every index otaguard declares. */
export async function ensureIndexes(connection: Connection): Promise<void> {
  for (const model of Object.values(connection.models)) {
    await model.createCollection().catch((err: { codeName?: string }) => {
      if (err.codeName !== 'NamespaceExists') throw err;
    });
    await model.createIndexes();
  }
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
