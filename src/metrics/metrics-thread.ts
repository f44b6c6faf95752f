import { Worker } from 'node:worker_threads';
import type { CheckedDevice } from '../rollouts/update-check-service.js';
import type { LogLevel } from '../config.js';
import type { Logger } from '../logger.js';
import type { CounterRow, CounterStore } from './counter-store.js';
import type { Fact } from './metric-definitions.js';
import type { AggregatedEvent, EventAggregator } from './metrics-aggregator.js';
import type { MetricsInstruments } from './metrics-instruments.js';

/** What the metrics thread needs to open its Redis connection and count (see metrics-thread-main.ts). */
export interface MetricsThreadData {
  redisUrl: string;
  queuePrefix: string;
  flushIntervalMs: number;
  logLevel: LogLevel;
}

/**
 * Accepted events as they cross to the thread: per event, the fields counting reads in this order
 * (fromVersion '' when absent, occurredAt in epoch ms), flat, so copying them is one array of primitives.
 */
export const ROW_FIELDS = 8;
export type EventRows = Array<string | number>;

/** Events handed over are posted together at most this often (or at EVENTS_PER_POST events). */
const POST_DELAY_MS = 5;
const EVENTS_PER_POST = 1000;

export type ToMetricsThread =
  | { kind: 'events'; rows: EventRows }
  | { kind: 'check'; check: CheckedDevice }
  | { kind: 'facts'; facts: readonly Fact[] }
  | { kind: 'flush'; id: number }
  | { kind: 'close'; id: number }
  /** The answer to an `increment`: the rows that were not written, or that none was. */
  | { kind: 'incremented'; id: number; failed: CounterRow[] }
  | { kind: 'incremented'; id: number; error: string };

/** Instrument updates the thread made since its last report, applied to this process's registry. */
export interface InstrumentDeltas {
  flushLag: number[];
  flushes: { ok: number; error: number };
  countedEvents: number;
  deviceIncrements: number;
  droppedEvents: number;
  lateFacts: number;
}

export type FromMetricsThread =
  | { kind: 'stats'; deltas: InstrumentDeltas; received: number; buffered: number }
  | { kind: 'done'; id: number }
  /** Counter increments to write through this process's write lane, beside ingest's inserts. */
  | { kind: 'increment'; id: number; rows: CounterRow[] };

/**
 * A worker on the thread's entry module, next to this one: `.js` when built; under tsx (tests, benchmarks)
 * the `.ts` source, loaded through tsx's loader, which a worker does not inherit.
 */
function spawnThread(data: MetricsThreadData): Worker {
  const options = { workerData: data, name: 'otaguard-metrics' };
  if (!import.meta.url.endsWith('.ts')) return new Worker(new URL('./metrics-thread-main.js', import.meta.url), options);
  const source = JSON.stringify(new URL('./metrics-thread-main.ts', import.meta.url).href);
  return new Worker(`import('tsx/esm/api').then(({ register }) => { register(); return import(${source}); });`, { ...options, eval: true });
}

/**
 * The metrics aggregator on a worker thread of its own. Counting accepted events (dedupe against Redis,
 * launch histories, the flush's garbage) took about a fifth of the api's CPU on its event loop, between
 * the requests it answers and the database replies its write lane waits for; here ingest only copies the
 * fields counting reads and posts them. Messages keep their order, so a `flush()` covers everything
 * handed over before it. The thread's counter increments come back here to be written: on FerretDB the
 * process's write lane keeps them and ingest's inserts from waiting on each other in SQLite. If the thread
 * dies, what it had buffered is left to reconciliation (as after a crash) and a new thread starts.
 */
export class ThreadedAggregator implements EventAggregator {
  private worker!: Worker;
  private nextId = 0;
  private readonly pending = new Map<number, () => void>();
  /** Events handed over to the current thread, and what its last report said it had received and holds. */
  private posted = 0;
  private received = 0;
  private buffered = 0;
  private closing = false;
  private alive = false;
  private rows: EventRows = [];
  private postTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly data: MetricsThreadData,
    private readonly counters: Pick<CounterStore, 'increment'>,
    private readonly instruments: MetricsInstruments,
    private readonly logger: Logger,
  ) {
    this.start();
  }

  /** The thread counting now (a new one after a crash). */
  get thread(): Worker {
    return this.worker;
  }

  get bufferedEvents(): number {
    return this.posted - this.received + this.buffered;
  }

  onAccepted(events: readonly AggregatedEvent[]): void {
    const rows = this.rows;
    for (const e of events) {
      const at = typeof e.occurredAt === 'number' ? e.occurredAt : e.occurredAt.getTime();
      rows.push(e.appId, e.pid, e.type, e.version, e.channel, e.platform, e.fromVersion ?? '', at);
    }
    this.posted += events.length;
    if (rows.length >= EVENTS_PER_POST * ROW_FIELDS) this.postRows();
    else if (!this.postTimer && rows.length > 0) this.postTimer = setTimeout(() => this.postRows(), POST_DELAY_MS).unref();
  }

  onUpdateCheck(check: CheckedDevice): void {
    this.postRows();
    this.post({ kind: 'check', check });
  }

  record(facts: readonly Fact[]): void {
    this.postRows();
    this.post({ kind: 'facts', facts });
  }

  flush(): Promise<void> {
    return this.request('flush');
  }

  async close(): Promise<void> {
    if (this.closing) return;
    if (this.alive) await this.request('close');
    this.closing = true;
    await this.worker.terminate();
  }

  private start(): void {
    const worker = spawnThread(this.data);
    this.alive = true;
    worker.on('message', (message: FromMetricsThread) => this.receive(worker, message));
    worker.on('error', (err) => this.logger.error({ err }, 'metrics thread failed'));
    worker.on('exit', (code) => {
      this.alive = false;
      if (this.closing) return;
      this.logger.error({ code }, 'metrics thread exited; starting another (what it had buffered is left to reconciliation)');
      for (const resolve of this.pending.values()) resolve();
      this.pending.clear();
      this.posted = 0;
      this.received = 0;
      this.buffered = 0;
      setTimeout(() => {
        if (!this.closing) this.start();
      }, 1000).unref();
    });
    // Not a reason to keep the process alive: close() ends it.
    worker.unref();
    this.worker = worker;
  }

  /** Posts the events handed over since the last post, as one message. */
  private postRows(): void {
    clearTimeout(this.postTimer);
    this.postTimer = undefined;
    if (this.rows.length === 0) return;
    const rows = this.rows;
    this.rows = [];
    this.post({ kind: 'events', rows });
  }

  private post(message: ToMetricsThread): void {
    // Between a thread's death and its successor: dropped, like what the dead thread held.
    if (this.alive) this.worker.postMessage(message);
  }

  private request(kind: 'flush' | 'close'): Promise<void> {
    const id = ++this.nextId;
    this.postRows();
    if (!this.alive) return Promise.resolve();
    return new Promise((resolve) => {
      this.pending.set(id, resolve);
      this.post({ kind, id });
    });
  }

  private receive(from: Worker, message: FromMetricsThread): void {
    if (message.kind === 'done') {
      this.pending.get(message.id)?.();
      this.pending.delete(message.id);
      return;
    }
    if (message.kind === 'increment') {
      const { id } = message;
      const answer = (reply: ToMetricsThread): void => {
        if (from === this.worker && this.alive) from.postMessage(reply);
      };
      this.counters.increment(message.rows).then(
        (failed) => answer({ kind: 'incremented', id, failed }),
        // Name only: driver messages can quote documents.
        (err: unknown) => answer({ kind: 'incremented', id, error: (err as Error).name ?? 'Error' }),
      );
      return;
    }
    const { deltas } = message;
    const { instruments } = this;
    for (const seconds of deltas.flushLag) instruments.flushLag.observe(seconds);
    if (deltas.flushes.ok > 0) instruments.flushes.inc({ result: 'ok' }, deltas.flushes.ok);
    if (deltas.flushes.error > 0) instruments.flushes.inc({ result: 'error' }, deltas.flushes.error);
    instruments.countedEvents.inc(deltas.countedEvents);
    instruments.deviceIncrements.inc(deltas.deviceIncrements);
    instruments.droppedEvents.inc(deltas.droppedEvents);
    instruments.lateFacts.inc(deltas.lateFacts);
    this.received = message.received;
    this.buffered = message.buffered;
  }
}
