import type { ChainableCommander, Redis } from 'ioredis';
import type { EventType } from '../ingest/stored-event.js';
import type { CountedEvent } from './event-facts.js';
import { historyVersion, type VersionHistoryEvent } from './launch-rules.js';

/** Events that launch verdicts read. */
const LAUNCH_TYPES: ReadonlySet<EventType> = new Set(['installed', 'app_ready', 'crash', 'rolled_back']);

/** Recent launch events are kept this long after a device-version's last one: beyond the rollback lookback and the 10-minute rule. */
export const LAUNCH_HISTORY_TTL_MS = 2 * 3_600_000;
/** Installs older than this are no longer judged live (their history may be gone); reconciliation judges them. */
export const LAUNCH_JUDGE_MAX_AGE_MS = 90 * 60_000;
const MAX_ENTRIES = 64;

/** Entries appended to one key per script call (Lua's unpack has a bounded stack). */
const APPEND_CHUNK = 500;

const APPEND_SCRIPT = `
redis.call('RPUSH', KEYS[1], unpack(ARGV, 2))
redis.call('LTRIM', KEYS[1], -${MAX_ENTRIES}, -1)
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1
`;

type HistoryPipeline = ChainableCommander & {
  otaguardLaunchAppends(key: string, ttlMs: string, ...entries: string[]): HistoryPipeline;
};

export interface DeviceVersion {
  appId: string;
  version: string;
  pid: string;
}

/**
 * Each device-version's recent `installed`, `app_ready`, `crash` and `rolled_back` events, shared by every
 * process through Redis. Launch verdicts read it instead of the raw events: FerretDB 1.24 answers any
 * query but a point `_id` lookup with a full collection scan, which the hot path cannot afford.
 */
export class LaunchHistory {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {
    if (!('otaguardLaunchAppends' in redis)) redis.defineCommand('otaguardLaunchAppends', { numberOfKeys: 1, lua: APPEND_SCRIPT });
  }

  private key(d: DeviceVersion): string {
    return `${this.prefix}:metrics:lh:${d.appId}:${d.version}:${d.pid.slice(0, 24)}`;
  }

  /**
   * Appends the launch-relevant events, installs first so a batch's own app_ready never precedes its
   * install; one script call per device-version (a device's batch is one key, not one call per event).
   */
  async append(events: readonly CountedEvent[]): Promise<void> {
    const relevant = events.filter((e) => LAUNCH_TYPES.has(e.type));
    if (relevant.length === 0) return;
    const ordered = [...relevant.filter((e) => e.type === 'installed'), ...relevant.filter((e) => e.type !== 'installed')];
    const byKey = new Map<string, string[]>();
    for (const e of ordered) {
      const key = this.key({ appId: e.appId, version: historyVersion(e), pid: e.pid });
      const entries = byKey.get(key) ?? [];
      entries.push(`${e.type}|${e.at}`);
      byKey.set(key, entries);
    }
    const pipeline = this.redis.pipeline() as HistoryPipeline;
    for (const [key, entries] of byKey) {
      for (let i = 0; i < entries.length; i += APPEND_CHUNK) {
        pipeline.otaguardLaunchAppends(key, String(LAUNCH_HISTORY_TTL_MS), ...entries.slice(i, i + APPEND_CHUNK));
      }
    }
    const results = (await pipeline.exec()) ?? [];
    const failed = results.find(([err]) => err);
    if (failed?.[0]) throw failed[0];
  }

  /** Each device-version's history; a key asked for several times (a batch's crashes) is read and parsed once. */
  async read(devices: readonly DeviceVersion[]): Promise<VersionHistoryEvent[][]> {
    if (devices.length === 0) return [];
    const keys = devices.map((d) => this.key(d));
    const unique = [...new Set(keys)];
    const pipeline = this.redis.pipeline();
    for (const key of unique) pipeline.lrange(key, 0, -1);
    const results = (await pipeline.exec()) ?? [];
    const byKey = new Map<string, VersionHistoryEvent[]>();
    unique.forEach((key, i) => {
      const [err, entries] = results[i] ?? [new Error('no reply'), null];
      if (err) throw err;
      byKey.set(
        key,
        (entries as string[]).map((entry) => {
          const sep = entry.indexOf('|');
          return { type: entry.slice(0, sep) as EventType, at: Number(entry.slice(sep + 1)) };
        }),
      );
    });
    return keys.map((key) => byKey.get(key)!);
  }
}
