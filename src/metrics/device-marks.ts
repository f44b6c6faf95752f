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

const CONFIRM_SCRIPT = `
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if cur then
  local sep = string.find(cur, '|', 1, true)
  local curAt = tonumber(string.sub(cur, 1, sep - 1))
  local curTag = string.sub(cur, sep + 1)
  local at = tonumber(ARGV[2])
  if curAt > at or (curAt == at and curTag >= ARGV[3]) then return false end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. '|' .. ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
if cur then return cur end
return ''
`;

type ConfirmPipeline = ChainableCommander & {
  otaguardConfirm(key: string, field: string, at: string, tag: string, ttlMs: string): ConfirmPipeline;
};

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
    if (!('otaguardConfirm' in redis)) redis.defineCommand('otaguardConfirm', { numberOfKeys: 1, lua: CONFIRM_SCRIPT });
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

  /** Per unit, true when this call marked it first (and so must count it). */
  async claim(units: readonly CellFact[], now: number): Promise<boolean[]> {
    if (units.length === 0) return [];
    const pipeline = this.redis.pipeline();
    const expiring = new Map<string, number>();
    for (const u of units) {
      const { key, field } = this.markerOf(u);
      pipeline.hsetnx(key, field, '1');
      expiring.set(key, markerTtlMs(u.cell.g, u.cell.t, now));
    }
    for (const [key, ttl] of expiring) pipeline.pexpire(key, Math.max(1000, ttl));
    const results = (await pipeline.exec()) ?? [];
    return units.map((_, i) => {
      const [err, value] = results[i] ?? [new Error('no reply'), null];
      if (err) throw err;
      return value === 1;
    });
  }

  async confirm(updates: readonly RegisterUpdate[], now: number): Promise<RegisterResult[]> {
    if (updates.length === 0) return [];
    const pipeline = this.redis.pipeline() as ConfirmPipeline;
    for (const u of updates) {
      const ttl = Math.max(1000, markerTtlMs(u.g, u.t, now));
      pipeline.otaguardConfirm(this.registerKey(u.appId, u.g, u.t), u.pid.slice(0, PID_CHARS), String(u.at), u.tag, String(ttl));
    }
    const results = (await pipeline.exec()) ?? [];
    return updates.map((_, i) => {
      const [err, value] = results[i] ?? [new Error('no reply'), null];
      if (err) throw err;
      return value === null || value === undefined ? null : String(value);
    });
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
