/**
 * Entry of the metrics thread (see ThreadedAggregator in metrics-thread.ts): the aggregator with a Redis
 * connection of its own, fed by the messages ingest posts; its counter writes go back to the main thread.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { systemClock } from '../clock.js';
import { createRedis, requestRedisOptions, waitForRedis } from '../connections.js';
import { createLogger } from '../logger.js';
import type { CounterRow, CounterStore } from './counter-store.js';
import { DeviceMarks } from './device-marks.js';
import { LaunchHistory } from './launch-history.js';
import type { EventType } from '../ingest/stored-event.js';
import { MetricsAggregator, type AggregatedEvent, type AggregatorInstruments } from './metrics-aggregator.js';
import { ROW_FIELDS, type EventRows, type FromMetricsThread, type InstrumentDeltas, type MetricsThreadData, type ToMetricsThread } from './metrics-thread.js';
import { RedisMutex } from './redis-mutex.js';

/** How often instrument updates go to the main thread when nothing asks. */
const REPORT_INTERVAL_MS = 1000;

function noDeltas(): InstrumentDeltas {
  return { flushLag: [], flushes: { ok: 0, error: 0 }, countedEvents: 0, deviceIncrements: 0, droppedEvents: 0, lateFacts: 0 };
}

const port = parentPort!;
const data = workerData as MetricsThreadData;
const logger = createLogger(data.logLevel).child({ thread: 'metrics' });

let deltas = noDeltas();
/** Events received from the main thread so far (its gauge of buffered events subtracts them). */
let received = 0;
const instruments: AggregatorInstruments = {
  flushLag: { observe: (seconds) => void deltas.flushLag.push(seconds) },
  flushes: { inc: ({ result }) => void (deltas.flushes[result] += 1) },
  countedEvents: { inc: (n = 1) => void (deltas.countedEvents += n) },
  deviceIncrements: { inc: (n = 1) => void (deltas.deviceIncrements += n) },
  droppedEvents: { inc: (n = 1) => void (deltas.droppedEvents += n) },
  lateFacts: { inc: (n = 1) => void (deltas.lateFacts += n) },
};

/** Increments asked of the main thread, by request id. */
const writes = new Map<number, { resolve: (failed: CounterRow[]) => void; reject: (err: Error) => void }>();
let lastWrite = 0;
const counters: Pick<CounterStore, 'increment'> = {
  increment: (rows) =>
    new Promise((resolve, reject) => {
      const id = ++lastWrite;
      writes.set(id, { resolve, reject });
      send({ kind: 'increment', id, rows: [...rows] });
    }),
};

const redis = createRedis(data.redisUrl, requestRedisOptions());
// Redis down at start-up: the aggregator keeps what it is handed and retries every tick.
await waitForRedis(redis).catch(() => logger.warn('metrics thread: Redis not reachable yet; counting will retry'));
const aggregator = new MetricsAggregator({
  counters,
  marks: new DeviceMarks(redis, data.queuePrefix),
  history: new LaunchHistory(redis, data.queuePrefix),
  writeLease: new RedisMutex(redis, `${data.queuePrefix}:metrics:counter-write`),
  clock: systemClock,
  logger,
  instruments,
  flushIntervalMs: data.flushIntervalMs,
});
aggregator.start();

function eventsOf(rows: EventRows): AggregatedEvent[] {
  const events: AggregatedEvent[] = [];
  for (let i = 0; i < rows.length; i += ROW_FIELDS) {
    const fromVersion = rows[i + 6] as string;
    events.push({
      appId: rows[i] as string,
      pid: rows[i + 1] as string,
      type: rows[i + 2] as EventType,
      version: rows[i + 3] as string,
      channel: rows[i + 4] as string,
      platform: rows[i + 5] as string,
      ...(fromVersion !== '' ? { fromVersion } : {}),
      occurredAt: rows[i + 7] as number,
    });
  }
  return events;
}

function send(message: FromMetricsThread): void {
  port.postMessage(message);
}

function report(): void {
  const current = deltas;
  deltas = noDeltas();
  send({ kind: 'stats', deltas: current, received, buffered: aggregator.bufferedEvents });
}
setInterval(report, REPORT_INTERVAL_MS).unref();

port.on('message', (message: ToMetricsThread) => {
  switch (message.kind) {
    case 'events':
      received += message.rows.length / ROW_FIELDS;
      aggregator.onAccepted(eventsOf(message.rows));
      return;
    case 'check':
      aggregator.onUpdateCheck(message.check);
      return;
    case 'facts':
      aggregator.record(message.facts);
      return;
    case 'flush':
      void aggregator.flush().finally(() => {
        report();
        send({ kind: 'done', id: message.id });
      });
      return;
    case 'incremented': {
      const write = writes.get(message.id);
      writes.delete(message.id);
      if ('error' in message) write?.reject(new Error(`counter write failed (${message.error})`));
      else write?.resolve(message.failed);
      return;
    }
    case 'close':
      void aggregator
        .close()
        .finally(async () => {
          report();
          await redis.quit().catch(() => undefined);
          send({ kind: 'done', id: message.id });
        });
      return;
  }
});
