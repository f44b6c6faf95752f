import type { Redis } from 'ioredis';
import type { Connection } from 'mongoose';
import type { Histogram, Registry } from 'prom-client';
import { AccessService } from './access/access-service.js';
import { MongoApiKeyStore } from './access/api-key-store.js';
import { DEFAULT_AUTH_THROTTLE, RedisAuthThrottle, type AuthThrottle } from './access/auth-throttle.js';
import { AppService } from './apps/app-service.js';
import { AuditLog } from './audit/audit-log.js';
import { MongoAuditStore } from './audit/audit-store.js';
import { MongoAppStore } from './apps/app-store.js';
import { systemClock, type Clock } from './clock.js';
import type { Config } from './config.js';
import {
  connectMongo,
  createRedis,
  ensureIndexes,
  requestRedisOptions,
  waitForRedis,
} from './connections.js';
import { KeyRing } from './crypto/keys.js';
import { Pseudonyms } from './crypto/pseudonyms.js';
import { RequestValidators } from './http/validation.js';
import { createLogger, type Logger } from './logger.js';
import { createMetricsRegistry } from './ops/metrics-registry.js';
import type { AcceptedEventsListener } from './ingest/stored-event.js';
import { MongoSuppressionStore, type SuppressionStore } from './ingest/suppression-store.js';
import type { ConsentService } from './ingest/consent-service.js';
import { detectIdLookup } from './ingest/id-lookup.js';
import { prometheusLaneObserver, WriteLane } from './write-lane.js';
import { RedisGenerations } from './ingest/generations.js';
import { SuppressionGate } from './ingest/suppression-gate.js';
import { createIngestModule } from './ingest/ingest-module.js';
import type { IngestService } from './ingest/ingest-service.js';
import { Queues } from './queues.js';
import { createDeviceMetrics, type DeviceMetrics } from './metrics/metrics-module.js';
import { createRolloutFeature, type RolloutFeature } from './rollouts/rollout-feature.js';
import { WebhookService } from './webhooks/webhook-service.js';
import { SecretBox } from './webhooks/webhook-signature.js';
import { MongoWebhookStore } from './webhooks/webhook-store.js';
import { createPrivacyFeature, type PrivacyFeature } from './privacy/privacy-feature.js';

/** The object graph, built once. Routers and job processors take what they need from it. */
export interface Container {
  readonly config: Config;
  readonly logger: Logger;
  readonly clock: Clock;
  readonly mongo: Connection;
  readonly redis: Redis;
  readonly queues: Queues;
  readonly metrics: Registry;
  readonly httpLatency: Histogram<'method' | 'route' | 'status'>;
  readonly keyRing: KeyRing;
  readonly pseudonyms: Pseudonyms;
  readonly validators: RequestValidators;
  readonly access: AccessService;
  /** Counts failed authentications per (HMAC-ed) source address; Redis-backed. */
  readonly authThrottle: AuthThrottle;
  readonly apps: AppService;
  readonly audit: AuditLog;
  readonly suppressions: SuppressionStore;
  /** Ingest notifies these after each durable write; metrics registers its aggregator here. */
  readonly acceptedEvents: AcceptedEventsListener[];
  /** Adoption and failure metrics: the accepted-events aggregator, the query service and the metrics jobs. */
  readonly deviceMetrics: DeviceMetrics;
  /** Device telemetry ingest (events → collection `events`, device state → `devices`). */
  readonly ingest: IngestService;
  /** Consent decisions (ledger → collection `consents`, current state → `device_consents`). */
  readonly consent: ConsentService;
  /** Webhook subscriptions and signed deliveries; `publish` is the WebhookPublisher other features call. */
  readonly webhooks: WebhookService;
  /** Releases, channels, rollouts, the update check and the rollout guard. */
  readonly rollouts: RolloutFeature;
  /** Privacy requests (access, export, erasure, objection) as checkpointed jobs, deadlines, receipts, retention. */
  readonly privacy: PrivacyFeature;
  /** Closes what the container opened, in reverse order. Idempotent. */
  close(): Promise<void>;
}

export interface ContainerOptions {
  logger?: Logger;
  clock?: Clock;
  /** Skip waiting for Redis at start-up (readiness tests start with it down). */
  lazyRedis?: boolean;
}

export async function createContainer(config: Config, options: ContainerOptions = {}): Promise<Container> {
  const logger = options.logger ?? createLogger(config.logLevel);
  const clock = options.clock ?? systemClock;

  const mongo = await connectMongo(config.mongodbUrl);
  const redis = createRedis(config.redisUrl, requestRedisOptions());
  if (!options.lazyRedis) await waitForRedis(redis);
  // Producers fail fast when Redis is down (no offline queue): the HTTP caller gets a 503.
  const queues = new Queues({ url: config.redisUrl, maxRetriesPerRequest: null, enableOfflineQueue: false }, config.queuePrefix);
  const { registry: metrics, httpLatency } = createMetricsRegistry();

  const keyRing = new KeyRing(config.masterKey);
  const pseudonyms = new Pseudonyms(keyRing);
  const validators = new RequestValidators();

  const authThrottle = new RedisAuthThrottle(redis, config.queuePrefix, keyRing.derive('auth-throttle'), {
    ...DEFAULT_AUTH_THROTTLE,
    failures: config.authFailureLimit,
  });
  const access = new AccessService(new MongoApiKeyStore(mongo), clock, authThrottle);
  const apps = new AppService(new MongoAppStore(mongo), clock);
  const audit = new AuditLog(new MongoAuditStore(mongo), clock, keyRing.derive('audit-mac'));
  const idLookup = await detectIdLookup(mongo);
  const generations = new RedisGenerations(redis, config.queuePrefix);
  const suppressions = new MongoSuppressionStore(mongo, idLookup, generations);
  // One per process: ingest and the update check share what it has verified.
  const suppressionGate = new SuppressionGate(suppressions, generations);
  // FerretDB is the server that needs single-_id queries (see id-lookup.ts), and one writer at a time.
  const writeLane = WriteLane.for(idLookup === 'each', config.dbWriteConcurrency, prometheusLaneObserver(metrics));
  const acceptedEvents: AcceptedEventsListener[] = [];
  const deviceMetrics = createDeviceMetrics({
    mongo, redis, queues, registry: metrics, clock, logger, apps, queuePrefix: config.queuePrefix, idLookup, writeLane,
    flushIntervalMs: config.metricsFlushIntervalMs, counterRetention: config.counterRetentionDays,
  });
  acceptedEvents.push(deviceMetrics.aggregator);
  const { ingest, consent } = createIngestModule({
    config, mongo, redis, metrics, clock, logger, pseudonyms, validators, suppressions, suppressionGate, generations, acceptedEvents, idLookup, writeLane,
  });

  const webhooks = new WebhookService(new MongoWebhookStore(mongo), new SecretBox(keyRing.derive('webhook-secrets')), queues, clock);
  const rollouts = createRolloutFeature({
    mongo, queues, apps, audit, webhooks, pseudonyms, suppressionGate, clock, logger, idLookup, guardBucketSeconds: config.guardBucketSeconds,
    updateChecks: deviceMetrics.aggregator,
  });
  const privacy = createPrivacyFeature({
    config, mongo, redis, queues, apps, audit, pseudonyms, keyRing, suppressions, webhooks, clock, idLookup, counters: deviceMetrics.counters,
  });

  const { skipped, sqliteBackend } = await ensureIndexes(mongo);
  if (skipped > 0) logger.info({ skipped }, 'non-unique secondary indexes left out: this server never reads them (FerretDB on SQLite)');
  if (sqliteBackend) {
    logger.warn(
      'FerretDB on SQLite serves development and tests: every lookup by _id scans its collection, so reads and writes slow down as data grows (README, "FerretDB limits"); use MongoDB in production',
    );
  }
  if (config.bootstrapAdminKey) await access.ensureBootstrapKey(config.bootstrapAdminKey);

  let closed: Promise<void> | undefined;
  const close = (): Promise<void> =>
    (closed ??= (async () => {
      // Metrics first: its last flush needs Redis and MongoDB.
      await deviceMetrics.close().catch(() => undefined);
      await queues.close().catch(() => undefined);
      redis.disconnect();
      await mongo.close().catch(() => undefined);
    })());

  return {
    config,
    logger,
    clock,
    mongo,
    redis,
    queues,
    metrics,
    httpLatency,
    keyRing,
    pseudonyms,
    validators,
    access,
    authThrottle,
    apps,
    audit,
    suppressions,
    acceptedEvents,
    deviceMetrics,
    webhooks,
    rollouts,
    privacy,
    ingest,
    consent,
    close,
  };
}
