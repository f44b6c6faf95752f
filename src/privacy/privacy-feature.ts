import type { Connection } from 'mongoose';
import type { AppService } from '../apps/app-service.js';
import type { AuditLog } from '../audit/audit-log.js';
import type { Clock } from '../clock.js';
import type { Config } from '../config.js';
import type { KeyRing } from '../crypto/keys.js';
import type { Pseudonyms } from '../crypto/pseudonyms.js';
import type { IdLookup } from '../ingest/id-lookup.js';
import type { SuppressionStore } from '../ingest/suppression-store.js';
import type { Queues } from '../queues.js';
import type { Redis } from 'ioredis';
import { FERRETDB_DELETE_RANGE } from './bulk-delete.js';
import { RedisDeviceRequestLimit } from './device-request-limit.js';
import { DeadlineWatcher, type NoticePublisher } from './deadline-watcher.js';
import { ErasureSteps } from './erasure-steps.js';
import { ExportArchive } from './export-archive.js';
import { MongoExportChunkStore } from './export-chunk-store.js';
import { ExportSteps } from './export-steps.js';
import { PrivacyDocuments } from './privacy-documents.js';
import { PrivacyProcessor } from './privacy-processor.js';
import { MongoPrivacyRequestStore } from './privacy-request-store.js';
import { PrivacyService } from './privacy-service.js';
import { ReceiptBook } from './receipts.js';
import { RetentionService, type CounterPurge } from './retention-service.js';

export interface PrivacyFeature {
  /** Filing, listing, extending and denying requests. */
  requests: PrivacyService;
  /** Export downloads, erasure receipts and the receipt key. */
  documents: PrivacyDocuments;
  /** Runs a request's checkpointed steps (the `privacy` job). */
  processor: PrivacyProcessor;
  /** Due-soon and overdue notices (the `retention` job, task `deadlines`). */
  deadlines: DeadlineWatcher;
  /** Raw-event and export purges (the `retention` job, task `purge`). */
  retention: RetentionService;
  receipts: ReceiptBook;
}

/** Privacy jobs retry for about 1.5 hours (5 s doubling) before a request is marked failed. */
export const PRIVACY_JOB_OPTIONS = { attempts: 10, backoff: { type: 'exponential', delay: 5000 } } as const;

export function createPrivacyFeature(deps: {
  config: Config;
  mongo: Connection;
  redis: Redis;
  queues: Queues;
  apps: AppService;
  audit: AuditLog;
  pseudonyms: Pseudonyms;
  keyRing: KeyRing;
  suppressions: SuppressionStore;
  webhooks: NoticePublisher;
  clock: Clock;
  /** `each` means FerretDB (detected at start-up), whose deleteMany has a per-call limit. */
  idLookup: IdLookup;
  /** The metric counters whose minute and hour documents the retention job purges. */
  counters: CounterPurge;
}): PrivacyFeature {
  const { config, mongo: connection, queues, apps, audit, pseudonyms, keyRing, suppressions, webhooks, clock } = deps;
  const ranged = deps.idLookup === 'each' ? { deleteRangeSize: FERRETDB_DELETE_RANGE } : {};
  const store = new MongoPrivacyRequestStore(connection);
  const chunks = new MongoExportChunkStore(connection, () => clock.now());
  const archive = new ExportArchive(chunks, store, keyRing);
  const receipts = new ReceiptBook(connection, keyRing.signingKey('privacy-receipts'));
  const requests = new PrivacyService({
    store,
    apps,
    pseudonyms,
    audit,
    clock,
    duplicateWindowMs: config.privacyDuplicateWindowHours * 3_600_000,
    deviceLimit: new RedisDeviceRequestLimit(deps.redis, config.queuePrefix, config.privacyDeviceRequestsPerHour),
    queue: { enqueue: (requestId) => queues.add('privacy', { requestId }, { jobId: requestId, ...PRIVACY_JOB_OPTIONS }) },
  });
  const processor = new PrivacyProcessor({
    store,
    connection,
    exports: new ExportSteps({ connection, chunks, archive, clock, ttlMs: config.exportTtlHours * 3_600_000 }),
    erasure: new ErasureSteps({ connection, suppressions, store, archive, receipts, clock, ...ranged }),
    archive,
    audit,
    clock,
  });
  return {
    requests,
    documents: new PrivacyDocuments({ requests, archive, receipts, clock }),
    processor,
    deadlines: new DeadlineWatcher({ store, webhooks, audit, clock }),
    retention: new RetentionService({
      connection, apps, store, archive, audit, clock, ...ranged,
      counters: { store: deps.counters, retentionDays: config.counterRetentionDays },
    }),
    receipts,
  };
}
