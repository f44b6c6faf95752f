import type { Redis } from 'ioredis';
import type { Connection } from 'mongoose';
import type { Registry } from 'prom-client';
import type { Clock } from '../clock.js';
import type { Config } from '../config.js';
import type { Pseudonyms } from '../crypto/pseudonyms.js';
import type { RequestValidators } from '../http/validation.js';
import type { Logger } from '../logger.js';
import { MongoConsentLedger, MongoConsentStateStore } from './consent-store.js';
import { ConsentService } from './consent-service.js';
import { MongoDeviceStateStore } from './device-state-store.js';
import { eventShapeCheck } from './event-shape.js';
import { MongoEventStore } from './event-store.js';
import { CoalescingEventWriter, DEFAULT_EVENT_WRITER_OPTIONS } from './event-writer.js';
import type { IdLookup } from './id-lookup.js';
import { InFlightGate, RedisIngestRateLimits } from './ingest-limits.js';
import { prometheusIngestObserver } from './ingest-metrics.js';
import { INGEST_LIMITS, IngestService } from './ingest-service.js';
import type { AcceptedEventsListener } from './stored-event.js';
import type { SuppressionStore } from './suppression-store.js';
import type { SuppressionGate } from './suppression-gate.js';
import { ConsentGate } from './consent-gate.js';
import type { Generations } from './generations.js';
import type { WriteLane } from '../write-lane.js';

export interface IngestModule {
  ingest: IngestService;
  consent: ConsentService;
}

/** Builds ingest's stores and services (called from src/container.ts, before indexes are ensured). */
export function createIngestModule(deps: {
  config: Config;
  mongo: Connection;
  redis: Redis;
  metrics: Registry;
  clock: Clock;
  logger: Logger;
  pseudonyms: Pseudonyms;
  validators: RequestValidators;
  suppressions: SuppressionStore;
  suppressionGate: SuppressionGate;
  generations: Generations;
  acceptedEvents: readonly AcceptedEventsListener[];
  idLookup: IdLookup;
  writeLane: WriteLane;
}): IngestModule {
  const { config, mongo, clock, logger, pseudonyms, suppressions } = deps;
  // On FerretDB ('each' lookups) a device this process has not written yet is inserted before any upsert.
  const devices = new MongoDeviceStateStore(mongo, deps.idLookup, deps.writeLane, deps.idLookup === 'each');
  const events = new MongoEventStore(mongo, deps.idLookup);
  const states = new MongoConsentStateStore(mongo, deps.idLookup);
  const rateLimits = new RedisIngestRateLimits(deps.redis, config.queuePrefix, {
    appEventsPerSecond: config.ingestAppEventsPerSecond,
    deviceEventsPerMinute: config.ingestDeviceEventsPerMinute,
  });
  const gate = new InFlightGate(config.ingestMaxInFlight);
  const writer = new CoalescingEventWriter(
    events,
    deps.acceptedEvents,
    (err) => logger.warn({ err: { name: (err as Error | undefined)?.name } }, 'accepted-events listener failed'),
    { ...DEFAULT_EVENT_WRITER_OPTIONS, lane: deps.writeLane },
  );
  const ingest = new IngestService({
    writer,
    events,
    devices,
    consents: new ConsentGate(states, deps.generations),
    suppressions: deps.suppressionGate,
    pseudonyms,
    rateLimits,
    gate,
    checkEvent: eventShapeCheck(deps.validators.component('TelemetryEvent')),
    observer: prometheusIngestObserver(deps.metrics, () => gate.inFlight),
    clock,
    logger,
    limits: { ...INGEST_LIMITS, timeoutMs: config.ingestTimeoutMs },
  });
  const consent = new ConsentService({ ledger: new MongoConsentLedger(mongo), states, suppressions, pseudonyms, rateLimits, generations: deps.generations, clock, logger });
  return { ingest, consent };
}
