import { randomBytes } from 'node:crypto';

export type Role = 'api' | 'worker' | 'all';
export type NodeEnv = 'production' | 'development' | 'test';
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export interface Config {
  readonly nodeEnv: NodeEnv;
  readonly port: number;
  readonly mongodbUrl: string;
  readonly redisUrl: string;
  /** 32+ bytes; every per-app pseudonym key, export key and signing key is derived from it. */
  readonly masterKey: Buffer;
  readonly masterKeyGenerated: boolean;
  readonly bootstrapAdminKey: string | undefined;
  readonly role: Role;
  readonly logLevel: LogLevel;
  readonly guardBucketSeconds: number;
  /** Prefix for every BullMQ queue and Redis key, so several installs (or test files) can share one Redis. */
  readonly queuePrefix: string;
  readonly bodyLimitBytes: number;
  readonly shutdownTimeoutMs: number;
  /** How often each process flushes its in-memory metric increments to the counters (freshness vs write load). */
  readonly metricsFlushIntervalMs: number;
  /** Days the retention job keeps minute and hour metric counters; day counters are kept for good. */
  readonly counterRetentionDays: { minute: number; hour: number };
  /** Event batches one api process works on at once; more are refused with 503 + Retry-After. */
  readonly ingestMaxInFlight: number;
  /** Hot-path database writes in flight at once per process; 0 = automatic (1 on FerretDB, unbounded on MongoDB). */
  readonly dbWriteConcurrency: number;
  /** How long an ingest request may take (reads + durable write) before it is answered 503. */
  readonly ingestTimeoutMs: number;
  /** Per-app ingest rate limit (events per second, shared by all api processes through Redis). */
  readonly ingestAppEventsPerSecond: number;
  /** Per-device ingest rate limit (events per minute). */
  readonly ingestDeviceEventsPerMinute: number;
  /** Reverse-proxy hops to trust for the client address (express `trust proxy`); 0 = use the socket address. */
  readonly trustProxy: number;
  /** Failed authentications per source per minute before the source is blocked for 5 minutes (429). */
  readonly authFailureLimit: number;
  /** How long a privacy export stays downloadable before the retention job purges it. */
  readonly exportTtlHours: number;
  /** A privacy request for the same device and type within this window links to the first; 0 = never. */
  readonly privacyDuplicateWindowHours: number;
  /** Cron (UTC) of the privacy deadline check; undefined = not scheduled. */
  readonly privacyDeadlinesCron: string | undefined;
  /** Cron (UTC) of the retention purge; undefined = not scheduled. */
  readonly retentionCron: string | undefined;
  /** Device self-service privacy requests accepted per app per hour (the ingest key is public). */
  readonly privacyDeviceRequestsPerHour: number;
}

export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(`${variable}: ${message}`);
  }
}

type Env = Record<string, string | undefined>;

const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

function oneOf<T extends string>(env: Env, name: string, allowed: readonly T[], fallback: T): T {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!(allowed as readonly string[]).includes(raw)) {
    throw new ConfigError(name, `must be one of ${allowed.join(', ')} (got "${raw}")`);
  }
  return raw as T;
}

function integer(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!/^\d+$/.test(raw)) throw new ConfigError(name, `must be an integer (got "${raw}")`);
  const value = Number(raw);
  if (value < min || value > max) throw new ConfigError(name, `must be between ${min} and ${max} (got ${value})`);
  return value;
}

function url(env: Env, name: string, fallback: string, schemes: readonly string[]): string {
  const raw = env[name] || fallback;
  let parsed: URL;
  try {
    parsed = new URL(raw);
  } catch {
    throw new ConfigError(name, 'must be a URL');
  }
  if (!schemes.includes(parsed.protocol)) {
    throw new ConfigError(name, `must use ${schemes.join(' or ')}`);
  }
  return raw;
}

function masterKey(env: Env, nodeEnv: NodeEnv): { key: Buffer; generated: boolean } {
  const raw = env.MASTER_KEY;
  if (raw === undefined || raw === '') {
    if (nodeEnv === 'production') throw new ConfigError('MASTER_KEY', 'is required in production');
    return { key: randomBytes(32), generated: true };
  }
  // Accept hex (64+ chars) or base64 (44+ chars); either way at least 32 bytes of key material.
  const key = /^[0-9a-fA-F]+$/.test(raw) ? Buffer.from(raw, 'hex') : Buffer.from(raw, 'base64');
  if (key.length < 32) {
    throw new ConfigError('MASTER_KEY', 'must be at least 32 bytes, hex or base64 encoded (try: openssl rand -hex 32)');
  }
  return { key, generated: false };
}

/** Parses the environment once. Throws ConfigError naming the offending variable. */
export function loadConfig(env: Env = process.env): Config {
  const nodeEnv = oneOf<NodeEnv>(env, 'NODE_ENV', ['production', 'development', 'test'], 'development');
  const bootstrap = env.BOOTSTRAP_ADMIN_KEY || undefined;
  if (bootstrap !== undefined && bootstrap.length < 24) {
    throw new ConfigError('BOOTSTRAP_ADMIN_KEY', 'must be at least 24 characters');
  }
  const { key, generated } = masterKey(env, nodeEnv);
  return Object.freeze({
    nodeEnv,
    port: integer(env, 'PORT', 3000, 0, 65535),
    mongodbUrl: url(env, 'MONGODB_URL', 'mongodb://127.0.0.1:27017/otaguard', ['mongodb:', 'mongodb+srv:']),
    redisUrl: url(env, 'REDIS_URL', 'redis://127.0.0.1:6379', ['redis:', 'rediss:']),
    masterKey: key,
    masterKeyGenerated: generated,
    bootstrapAdminKey: bootstrap,
    role: oneOf<Role>(env, 'ROLE', ['api', 'worker', 'all'], 'all'),
    logLevel: oneOf<LogLevel>(env, 'LOG_LEVEL', LOG_LEVELS, 'info'),
    guardBucketSeconds: integer(env, 'GUARD_BUCKET_SECONDS', 60, 1, 3600),
    queuePrefix: oneOfPattern(env, 'QUEUE_PREFIX', /^[a-zA-Z0-9_-]{1,40}$/, 'otaguard'),
    bodyLimitBytes: integer(env, 'BODY_LIMIT_BYTES', 1_048_576, 1024, 16_777_216),
    shutdownTimeoutMs: integer(env, 'SHUTDOWN_TIMEOUT_MS', 10_000, 100, 120_000),
    metricsFlushIntervalMs: integer(env, 'METRICS_FLUSH_INTERVAL_MS', 100, 20, 1000),
    counterRetentionDays: {
      minute: integer(env, 'METRIC_MINUTE_RETENTION_DAYS', 7, 1, 3650),
      hour: integer(env, 'METRIC_HOUR_RETENTION_DAYS', 90, 1, 3650),
    },
    ingestMaxInFlight: integer(env, 'INGEST_MAX_IN_FLIGHT', 64, 1, 10_000),
    ingestTimeoutMs: integer(env, 'INGEST_TIMEOUT_MS', 5000, 100, 120_000),
    dbWriteConcurrency: integer(env, 'DB_WRITE_CONCURRENCY', 0, 0, 1000),
    ingestAppEventsPerSecond: integer(env, 'INGEST_APP_EVENTS_PER_SECOND', 10_000, 500, 10_000_000),
    ingestDeviceEventsPerMinute: integer(env, 'INGEST_DEVICE_EVENTS_PER_MINUTE', 600, 500, 10_000_000),
    trustProxy: integer(env, 'TRUST_PROXY', 0, 0, 10),
    authFailureLimit: integer(env, 'AUTH_FAILURE_LIMIT', 20, 1, 100_000),
    exportTtlHours: integer(env, 'EXPORT_TTL_HOURS', 168, 1, 2160),
    privacyDuplicateWindowHours: integer(env, 'PRIVACY_DUPLICATE_WINDOW_HOURS', 24, 0, 720),
    privacyDeadlinesCron: cron(env, 'PRIVACY_DEADLINES_CRON', '*/15 * * * *'),
    retentionCron: cron(env, 'RETENTION_CRON', '30 3 * * *'),
    privacyDeviceRequestsPerHour: integer(env, 'PRIVACY_DEVICE_REQUESTS_PER_HOUR', 1000, 1, 1_000_000),
  });
}

/** A five-field cron expression (minute hour day month weekday, UTC), or `off`. */
function cron(env: Env, name: string, fallback: string): string | undefined {
  const raw = (env[name] || fallback).trim();
  if (raw === 'off') return undefined;
  const fields = raw.split(/\s+/);
  if (fields.length !== 5 || !fields.every((f) => /^(\*|\d+(-\d+)?)(\/\d+)?(,(\*|\d+(-\d+)?)(\/\d+)?)*$/.test(f))) {
    throw new ConfigError(name, `must be a five-field cron expression or "off" (got "${raw}")`);
  }
  return raw;
}

function oneOfPattern(env: Env, name: string, pattern: RegExp, fallback: string): string {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!pattern.test(raw)) throw new ConfigError(name, `must match ${pattern.source}`);
  return raw;
}

/** Test and tooling helper: a config with overrides and no environment lookups beyond `env`. */
export function testConfig(overrides: Partial<Config> = {}, env: Env = {}): Config {
  return Object.freeze({ ...loadConfig({ NODE_ENV: 'test', ...env }), ...overrides });
}
