import type { Redis } from 'ioredis';
import type { Connection } from 'mongoose';
import type { Registry } from 'prom-client';
import type { Clock } from '../clock.js';
import type { Logger } from '../logger.js';
import type { Queues } from '../queues.js';
import type { IdLookup } from '../ingest/id-lookup.js';
import type { WriteLane } from '../write-lane.js';
import { MongoCounterStore, type CounterStore } from './counter-store.js';
import { DeviceMarks } from './device-marks.js';
import { MongoEventHistory } from './event-history.js';
import { LaunchHistory } from './launch-history.js';
import { LaunchTimeouts } from './launch-timeouts.js';
import type { CounterRetention } from './metric-definitions.js';
import { MetricsAggregator } from './metrics-aggregator.js';
import { createMetricsInstruments } from './metrics-instruments.js';
import { MetricsService, type AppLookup } from './metrics-service.js';
import { Reconciler } from './reconciler.js';
import { RedisMutex } from './redis-mutex.js';

/** The metrics feature as the container holds it: the ingest listener, the query service and the two jobs. */
export interface DeviceMetrics {
  readonly aggregator: MetricsAggregator;
  /** The per-bucket device counts (read by id; written only through the aggregator and reconciliation). */
  readonly counters: CounterStore;
  readonly service: MetricsService;
  readonly launchTimeouts: LaunchTimeouts;
  readonly reconciler: Reconciler;
  /** Stops the flush timer and writes what is buffered. Call before closing Redis and MongoDB. */
  close(): Promise<void>;
}

export function createDeviceMetrics(deps: {
  mongo: Connection;
  redis: Redis;
  queues: Queues;
  registry: Registry;
  clock: Clock;
  logger: Logger;
  apps: AppLookup;
  queuePrefix: string;
  flushIntervalMs: number;
  /** Days the retention job keeps minute and hour counters: older windows are refused, not read as zeros. */
  counterRetention: CounterRetention;
  idLookup: IdLookup;
  writeLane: WriteLane;
}): DeviceMetrics {
  const counters = new MongoCounterStore(deps.mongo, deps.idLookup, deps.writeLane);
  const events = new MongoEventHistory(deps.mongo);
  const history = new LaunchHistory(deps.redis, deps.queuePrefix);
  const marks = new DeviceMarks(deps.redis, deps.queuePrefix);
  const writeLease = new RedisMutex(deps.redis, `${deps.queuePrefix}:metrics:counter-write`);
  const buffered = { count: (): number => 0 };
  const instruments = createMetricsInstruments(deps.registry, () => deps.queues.depths(), () => buffered.count());
  const aggregator = new MetricsAggregator({
    counters,
    marks,
    history,
    writeLease,
    clock: deps.clock,
    logger: deps.logger,
    instruments,
    flushIntervalMs: deps.flushIntervalMs,
    // Only a one-writer lane (FerretDB) makes ingest wait behind a counter write.
    ...(deps.writeLane.bounded ? { databaseBusy: () => deps.writeLane.queued > 0 } : {}),
  });
  buffered.count = () => aggregator.bufferedEvents;
  aggregator.start();
  return {
    aggregator,
    counters,
    service: new MetricsService(counters, deps.apps, deps.clock, deps.counterRetention),
    launchTimeouts: new LaunchTimeouts(marks, history, aggregator, deps.clock, instruments),
    reconciler: new Reconciler(counters, events, marks, writeLease, deps.clock, instruments, deps.logger, deps.counterRetention),
    close: () => aggregator.close(),
  };
}
