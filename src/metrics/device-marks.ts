import { createHash } from 'node:crypto';
import type { ChainableCommander, Redis } from 'ioredis';
import type { CellFact } from './cells.js';
import { BUCKET_MS, LIVE_HORIZON_MS, type Granularity } from './metric-definitions.js';

/**
 * Cross-process dedupe state in Redis, so several api and worker processes count a device once:
 * - markers: one hash per (app, granularity, bucket); a field per (cell, field, device) set with HSETNX —
 *   the process that sets it first is the one that increments the counter;
 * - running registers: one hash per (app, granularity, bucket); per device its latest `app_ready`
 *   ("at|version|channel"), replaced only by a later one (Lua, atomic);
 * - the launch watch (installs awaiting the 10-minute rule) and the set of days to reconcile.
 * Keys expire LIVE_HORIZON after their bucket ends. Fields hold a pid prefix (a pseudonym), never a device id.
 */
export interface WatchedInstall {
  appId: string;
  pid: string;
  version: string;
  channel: string;
  platform: string;
  installedAt: number;
}

export interface RegisterUpdate {
  appId: string;
  g: Granularity;
  t: number;
  pid: string;
  at: number;
  tag: string;
}

/** null: not newer than what is stored; '': first confirmation in the bucket; else the replaced "at|tag". */
export type RegisterResult = string | null;

// One call per register hash: ARGV[1] the key's expiry (ms), then (field, at, tag) per device. Per device:
// false when not newer than what is stored, '' for its first confirmation, else the replaced "at|tag".
const CONFIRM_SCRIPT = `
local out = {}
for i = 2, #ARGV, 3 do
  local field, at, tag = ARGV[i], tonumber(ARGV[i + 1]), ARGV[i + 2]
  local cur = redis.call('HGET', KEYS[1], field)
  local result = ''
  if cur then
    local sep = string.find(cur, '|', 1, true)
    local curAt = tonumber(string.sub(cur, 1, sep - 1))
    local curTag = string.sub(cur, sep + 1)
    if curAt > at or (curAt == at and curTag >= tag) then result = false else result = cur end
  end
  if result then redis.call('HSET', KEYS[1], field, ARGV[i + 1] .. '|' .. tag) end
  out[#out + 1] = result
end
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return out
`;

// One call per marker hash: ARGV[1] the key's expiry (ms), then the fields; per field 1 when this call set it.
const CLAIM_SCRIPT = `
local out = {}
for i = 2, #ARGV do out[i - 1] = redis.call('HSETNX', KEYS[1], ARGV[i], '1') end
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return out
`;

/** Devices (or fields) per script call: bounds how long one call holds Redis. */
const PER_CALL = 500;

type MarksPipeline = ChainableCommander & {
  otaguardConfirmMany(key: string, ttlMs: string, ...fieldAtTag: string[]): MarksPipeline;
  otaguardClaimMany(key: string, ttlMs: string, ...fields: string[]): MarksPipeline;
};

/** Items grouped by hash key, in calls of at most PER_CALL, each remembering its items' positions. */
function callsByKey<T>(items: readonly T[], keyOf: (item: T) => string): Array<{ key: string; at: number[] }> {
  const byKey = new Map<string, number[]>();
  items.forEach((item, i) => {
    const key = keyOf(item);
    const at = byKey.get(key);
    if (at) at.push(i);
    else byKey.set(key, [i]);
  });
  const calls: Array<{ key: string; at: number[] }> = [];
  for (const [key, at] of byKey) for (let i = 0; i < at.length; i += PER_CALL) calls.push({ key, at: at.slice(i, i + PER_CALL) });
  return calls;
}

/** Spreads each call's array reply back over the items' positions. */
async function perItem<T>(pipeline: ChainableCommander, calls: ReadonlyArray<{ at: number[] }>, count: number, map: (reply: unknown) => T): Promise<T[]> {
  const results = (await pipeline.exec()) ?? [];
  const out = new Array<T>(count);
  calls.forEach((call, c) => {
    const [err, replies] = results[c] ?? [new Error('no reply'), null];
    if (err) throw err;
    call.at.forEach((i, j) => (out[i] = map((replies as unknown[])[j])));
  });
  return out;
}

const PID_CHARS = 24;

/** Expiry of a bucket's dedupe state, relative to `now` (the injectable clock, not Redis's). */
export function markerTtlMs(g: Granularity, t: number, now: number): number {
  return t + BUCKET_MS[g] + LIVE_HORIZON_MS[g] - now;
}

export class DeviceMarks {
  /** (cell text → digest): a handful of channels × platforms × versions × fields, so hashing is paid once. */
  private readonly digests = new Map<string, string>();

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {
    if (!('otaguardConfirmMany' in redis)) redis.defineCommand('otaguardConfirmMany', { numberOfKeys: 1, lua: CONFIRM_SCRIPT });
    if (!('otaguardClaimMany' in redis)) redis.defineCommand('otaguardClaimMany', { numberOfKeys: 1, lua: CLAIM_SCRIPT });
  }

  private markerKey(appId: string, g: Granularity, t: number): string {
    return `${this.prefix}:metrics:mk:${appId}:${g}:${t}`;
  }

  private registerKey(appId: string, g: Granularity, t: number): string {
    return `${this.prefix}:metrics:rr:${appId}:${g}:${t}`;
  }

  private get watchKey(): string {
    return `${this.prefix}:metrics:launch-watch`;
  }

  private get dirtyKey(): string {
    return `${this.prefix}:metrics:dirty`;
  }

  /** The hash key and field of a unit; the cell's text is hashed to keep fields short. */
  markerOf(u: CellFact): { key: string; field: string } {
    const { cell } = u;
    const text = `${cell.channel}|${cell.platform}|${cell.version}|${u.field}`;
    let digest = this.digests.get(text);
    if (digest === undefined) {
      digest = createHash('sha1').update(text).digest('hex').slice(0, 10);
      if (this.digests.size > 10_000) this.digests.clear();
      this.digests.set(text, digest);
    }
    return { key: this.markerKey(cell.appId, cell.g, cell.t), field: `${digest}${u.pid.slice(0, PID_CHARS)}` };
  }

  /** Per unit, true when this call marked it first (and so must count it). One script call per marker hash. */
  async claim(units: readonly CellFact[], now: number): Promise<boolean[]> {
    if (units.length === 0) return [];
    const markers = units.map((u) => this.markerOf(u));
    const calls = callsByKey(markers, (m) => m.key);
    const pipeline = this.redis.pipeline() as MarksPipeline;
    for (const { key, at } of calls) {
      const { cell } = units[at[0]!]!;
      const ttl = Math.max(1000, markerTtlMs(cell.g, cell.t, now));
      pipeline.otaguardClaimMany(key, String(ttl), ...at.map((i) => markers[i]!.field));
    }
    return perItem(pipeline, calls, units.length, (reply) => reply === 1);
  }

  /** Per update, the register's answer (see RegisterResult). One script call per register hash. */
  async confirm(updates: readonly RegisterUpdate[], now: number): Promise<RegisterResult[]> {
    if (updates.length === 0) return [];
    const calls = callsByKey(updates, (u) => this.registerKey(u.appId, u.g, u.t));
    const pipeline = this.redis.pipeline() as MarksPipeline;
    for (const { key, at } of calls) {
      const first = updates[at[0]!]!;
      const args: string[] = [];
      for (const i of at) {
        const u = updates[i]!;
        args.push(u.pid.slice(0, PID_CHARS), String(u.at), u.tag);
      }
      pipeline.otaguardConfirmMany(key, String(Math.max(1000, markerTtlMs(first.g, first.t, now))), ...args);
    }
    return perItem(pipeline, calls, updates.length, (reply) => (reply === null || reply === undefined ? null : String(reply)));
  }

  /** Reconciliation: makes the registers hold the exact latest confirmations (settled buckets only). */
  async setRegisters(updates: readonly RegisterUpdate[], now: number): Promise<void> {
    const pipeline = this.redis.pipeline();
    for (const u of updates) {
      const ttl = markerTtlMs(u.g, u.t, now);
      if (ttl <= 0) continue;
      const key = this.registerKey(u.appId, u.g, u.t);
      pipeline.hset(key, u.pid.slice(0, PID_CHARS), `${u.at}|${u.tag}`);
      pipeline.pexpire(key, ttl);
    }
    await pipeline.exec();
  }

  async watchInstalls(installs: readonly WatchedInstall[]): Promise<void> {
    if (installs.length === 0) return;
    const args: Array<string | number> = [];
    for (const i of installs) args.push(i.installedAt, JSON.stringify(i));
    await this.redis.zadd(this.watchKey, ...args);
  }

  /** Installs whose launch window (and grace) has closed by `dueBy`, oldest first. */
  async dueInstalls(dueBy: number, limit: number): Promise<Array<{ member: string; install: WatchedInstall }>> {
    const members = await this.redis.zrangebyscore(this.watchKey, '-inf', dueBy, 'LIMIT', 0, limit);
    return members.map((member) => ({ member, install: JSON.parse(member) as WatchedInstall }));
  }

  async forgetInstalls(members: readonly string[]): Promise<void> {
    if (members.length > 0) await this.redis.zrem(this.watchKey, ...members);
  }

  async markDirty(days: ReadonlySet<string>): Promise<void> {
    if (days.size > 0) await this.redis.sadd(this.dirtyKey, ...days);
  }

  /** Removes and returns up to `limit` "appId|dayStartMs" entries queued by late events. */
  async takeDirty(limit: number): Promise<Array<{ appId: string; day: number }>> {
    const members = (await this.redis.spop(this.dirtyKey, limit)) ?? [];
    return members.map((m) => {
      const sep = m.lastIndexOf('|');
      return { appId: m.slice(0, sep), day: Number(m.slice(sep + 1)) };
    });
  }
}
