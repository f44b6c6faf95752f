import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';

/**
 * Tokens in Redis that change whenever what they guard changes, so a process may keep an answer it read
 * from the database for as long as the token it read just before stays the same. Writers advance a token
 * after their change is durable (and before acknowledging it). A token read also carries the reader's
 * Redis connection generation: a Redis restart that lost tokens reads as a change, never as "nothing
 * happened". Used on ingest's hot path (see SuppressionGate and ConsentGate), where on FerretDB every
 * read scans its collection.
 */
export interface Generations {
  /** The current tokens of `scopes`, in order; undefined when Redis cannot answer (then read the database). */
  read(scopes: readonly string[]): Promise<string[] | undefined>;
  /** A fresh token for `scope`. Throws when Redis cannot take it: then the change must not be acknowledged. */
  advance(scope: string): Promise<void>;
}

interface PendingRead {
  /** The Redis keys of the read's scopes, in order. */
  keys: readonly string[];
  resolve: (tokens: string[] | undefined) => void;
}

export class RedisGenerations implements Generations {
  private connection = 0;
  /** Reads asked for in this tick, answered together by one MGET (see `read`). */
  private pending: PendingRead[] | undefined;

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {
    redis.on('ready', () => this.connection++);
  }

  private key(scope: string): string {
    return `${this.prefix}:generation:${scope}`;
  }

  /**
   * Reads asked for in the same tick share one `MGET`: the batches of one group commit recheck their
   * suppression generation together, and concurrent batches read theirs before the write together. A
   * read is only ever deferred to the end of the tick, so it still comes after whatever its caller did
   * before asking.
   */
  read(scopes: readonly string[]): Promise<string[] | undefined> {
    if (scopes.length === 0) return Promise.resolve([]);
    return new Promise((resolve) => {
      if (!this.pending) {
        this.pending = [];
        process.nextTick(() => void this.readPending());
      }
      this.pending.push({ keys: scopes.map((scope) => this.key(scope)), resolve });
    });
  }

  private async readPending(): Promise<void> {
    const reads = this.pending ?? [];
    this.pending = undefined;
    const keys = [...new Set(reads.flatMap((r) => r.keys))];
    const connection = this.connection;
    let byKey: Map<string, string | null>;
    try {
      const tokens = await this.redis.mget(keys);
      byKey = new Map(keys.map((key, i) => [key, tokens[i] ?? null]));
    } catch {
      for (const r of reads) r.resolve(undefined);
      return;
    }
    // A reconnect while the command ran may have read a fresh server: count the answer as the new one's.
    const epoch = Math.max(connection, this.connection);
    for (const r of reads) r.resolve(r.keys.map((key) => `${epoch}:${byKey.get(key) ?? '-'}`));
  }

  async advance(scope: string): Promise<void> {
    await this.redis.set(this.key(scope), randomBytes(12).toString('base64url'));
  }
}

/**
 * Answers read from the database, remembered per scope under the generation token read before them;
 * a different token forgets the scope's answers. Bounded: past `max` answers it starts over (a miss
 * only costs a read).
 */
export class GenerationCache<V> {
  private readonly scopes = new Map<string, { token: string; answers: Map<string, V> }>();
  private size = 0;

  constructor(private readonly max = 200_000) {}

  get(scope: string, token: string, key: string): V | undefined {
    const entry = this.scopes.get(scope);
    return entry?.token === token ? entry.answers.get(key) : undefined;
  }

  set(scope: string, token: string, key: string, value: V): void {
    if (this.size >= this.max) {
      this.scopes.clear();
      this.size = 0;
    }
    let entry = this.scopes.get(scope);
    if (entry?.token !== token) {
      this.size -= entry?.answers.size ?? 0;
      entry = { token, answers: new Map() };
      this.scopes.set(scope, entry);
    }
    if (!entry.answers.has(key)) this.size++;
    entry.answers.set(key, value);
  }
}
