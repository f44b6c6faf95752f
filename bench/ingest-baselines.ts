import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { v7 as uuidv7 } from 'uuid';
import mongoose from 'mongoose';
import { connectMongo, durableWriteOptions, indexesToBuild, secondaryIndexesServeQueries, type IndexSpec } from '../src/connections.js';
import { MongoEventStore, type EventStore } from '../src/ingest/event-store.js';
import { eventDocId, type StoredEvent } from '../src/ingest/stored-event.js';
import { apiWritePath } from './api-write-path.js';
import { freePort, serviceNodeOptions } from '../test/helpers/ingest-server.js';
import { atFixedRate, batchBody, latencySummary, load, openLoop, type LoadResult } from './ingest-load.js';
import { BATCH, processCpuMs } from './service-under-test.js';

/** B0: a bare node:http server in its own process that reads the body and answers 202. */
const BARE_SERVER = `
const http = require('node:http');
const server = http.createServer((req, res) => {
  req.on('data', () => {});
  req.on('end', () => {
    res.writeHead(202, { 'content-type': 'application/json' });
    res.end('{"accepted":50,"duplicates":0,"rejected":[]}');
  });
});
server.listen(Number(process.argv[1]), '127.0.0.1', () => process.stdout.write('ready\\n'));
`;

export async function bareHttp(port: number, devices: readonly string[], seconds: number): Promise<LoadResult> {
  const child = spawn(process.execPath, ['-e', BARE_SERVER, String(port)], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
    return await load({ url: `http://127.0.0.1:${port}`, connections: 32, seconds, body: () => batchBody(devices, 50, 1) });
  } finally {
    child.kill('SIGKILL');
  }
}

/** As many pids as the bench has devices (a pid is an HMAC: 64 hex digits). */
function benchPids(count: number): string[] {
  return Array.from({ length: count }, () => randomUUID().replace(/-/g, '').repeat(2));
}

/**
 * The documents ingest would store for batches of 50 events from one device each (the service bench's
 * batches, drawn from as many devices): same shape, same `_id` scheme, UUIDv7 eventIds like the bench's
 * SDK model, pids instead of device ids.
 */
function storedEvents(appId: string, count: number, pids: readonly string[]): StoredEvent[] {
  const now = new Date();
  let pid = '';
  return Array.from({ length: count }, (_, i) => {
    if (i % 50 === 0) pid = pids[Math.floor(Math.random() * pids.length)]!; // a new device every 50 events
    const eventId = uuidv7();
    return {
      _id: eventDocId(appId, pid, eventId),
      appId,
      pid,
      type: i % 4 === 0 ? 'app_ready' : 'download_completed',
      version: '2.4.1',
      channel: 'production',
      platform: i % 3 === 0 ? 'ios' : 'android',
      occurredAt: new Date(now.getTime() - 1000 - i),
      receivedAt: now,
      nativeVersion: '5.2.0',
      osVersion: '17.4',
    };
  });
}

/**
 * B2: the raw driver's insertMany of the same documents into the same database: batches of 500, `writers`
 * concurrent writers, with the service's write concern (`durableWriteOptions`). Returns documents per
 * second. Into `table` when given (the service's own `events`, so that B2 and the service insert into a
 * table of the same size); else into a fresh collection with the same indexes as `events` (those of
 * `declared` the service builds on this server: see `indexesToBuild`), dropped afterwards.
 */
async function rawInsertMany(
  mongoUrl: string,
  declared: readonly IndexSpec[],
  seconds: number,
  writers: number,
  /** As many as the service bench's devices (a pid is an HMAC: 64 hex digits). */
  deviceCount: number,
  table?: string,
): Promise<number> {
  const pids = benchPids(deviceCount);
  // The service's durability (journaled writes): a baseline that acknowledges sooner is not the same work.
  const client = await mongoose.mongo.MongoClient.connect(mongoUrl, { maxPoolSize: 50, ...durableWriteOptions(mongoUrl) });
  try {
    const collection = client.db().collection<StoredEvent>(table ?? 'bench_b2_events');
    if (!table) {
      await collection.drop().catch(() => undefined);
      await client.db().createCollection('bench_b2_events');
      const secondary = await secondaryIndexesServeQueries(client.db(), 'bench_b2_events');
      for (const [keys, options] of indexesToBuild(declared, secondary)) await collection.createIndex(keys, options);
    }
    const batches = Array.from({ length: writers * 4 }, () => storedEvents('com.bench.b2', 500, pids));
    await collection.insertMany(storedEvents('com.bench.warmup', 500, pids), { ordered: false });
    let inserted = 0;
    const started = performance.now();
    const deadline = started + seconds * 1000;
    await Promise.all(
      Array.from({ length: writers }, async (_, w) => {
        for (let round = 0; performance.now() < deadline; round++) {
          // Fresh eventIds each time (the prepared batches only save the generator's CPU).
          const docs = batches[(w + round * writers) % batches.length]!.map((doc) => ({ ...doc, _id: eventDocId(doc.appId, doc.pid, uuidv7()) }));
          await collection.insertMany(docs, { ordered: false });
          inserted += docs.length;
        }
      }),
    );
    const rate = inserted / ((performance.now() - started) / 1000);
    if (!table) await collection.drop().catch(() => undefined);
    return rate;
  } finally {
    await client.close();
  }
}

/**
 * B2 as the benches take it: `rawInsertMany` with 1 and then 4 writers, 6 seconds each, printed; returns the
 * faster. The indexes are those the service declares on `events`.
 */
export async function rawBaseline(mongoUrl: string, deviceCount: number, label: string, log: (line: string) => void, table?: string): Promise<number> {
  const indexes = new MongoEventStore(mongoose.createConnection()).model.schema.indexes() as IndexSpec[];
  const one = await rawInsertMany(mongoUrl, indexes, 6, 1, deviceCount, table);
  const four = await rawInsertMany(mongoUrl, indexes, 6, 4, deviceCount, table);
  log(`B2 raw insertMany ${label} (500/batch): 1 writer ${Math.round(one)} docs/s, 4 writers ${Math.round(four)} docs/s`);
  return Math.max(one, four);
}

export interface StoreAtRate {
  p50: number;
  p99: number;
  /** Share of the run the write lane was held (one writer on FerretDB). */
  laneHeld: number;
  /** Inserts made (batches coalesce while one is in flight). */
  inserts: number;
}

/**
 * B3: the store's own latency at a fixed rate, the bound on what the service can reach there. The api's
 * write path itself (CoalescingEventWriter and MongoEventStore on a write lane, as `createIngestModule`
 * builds them: one writer on FerretDB, unbounded on MongoDB) fed the same 50-event batches from this
 * process, open loop, latency from the planned time: no HTTP, checks, Redis, device state or metrics, and
 * no api competing for the CPU. Into the events table of `mongoUrl`: the service's, so at its size.
 */
export async function storeAtRate(mongoUrl: string, eventsPerSecond: number, seconds: number, deviceCount: number): Promise<StoreAtRate> {
  const pids = benchPids(deviceCount);
  const connection = await connectMongo(mongoUrl);
  try {
    const store = new MongoEventStore(connection);
    let inserts = 0;
    const counted: EventStore = {
      insert: (events) => {
        inserts++;
        return store.insert(events);
      },
      remove: (ids) => store.remove(ids),
    };
    let held = 0;
    const writer = await apiWritePath(connection, counted, { waited: () => undefined, held: (_writer, s) => void (held += s) });
    const rate = eventsPerSecond / BATCH;
    const latencies: number[] = [];
    // Each batch made at its send time, as the api makes its documents per request (a few hundred µs).
    const duration = await atFixedRate(rate, Math.round(rate * seconds), async (planned) => {
      await writer.write(storedEvents('com.bench.b3', BATCH, pids));
      latencies.push(performance.now() - planned);
    });
    const { p50, p99 } = latencySummary(latencies);
    return { p50, p99, laneHeld: held / duration, inserts };
  } finally {
    await connection.close();
  }
}

/** B3's figures as both benches print them. */
export function describeStoreAtRate(b3: StoreAtRate): string {
  return `p50=${b3.p50}ms p99=${b3.p99}ms; write lane held ${Math.round(b3.laneHeld * 100)}% of the time, ${b3.inserts} inserts`;
}

export interface DurableHttpAtRate {
  p50: number;
  p99: number;
  /** Answers other than 202, and requests that failed. */
  non2xx: number;
  errors: number;
  /** The server's CPU time per batch (BATCH events) over the window, in ms. */
  cpuPerBatchMs: number;
}

/** B1's documents go into the service's table under an app of their own (the drain check counts the service's). */
export const B1_APP_ID = 'com.bench.b1';

/** B1's server (bench/durable-http-server.ts) running in a process of its own. */
export interface DurableHttpServer {
  url: string;
  /** Its CPU time so far (user + system), in ms. */
  cpuMs(): number;
  stop(): void;
}

/**
 * Starts B1's server, the smallest durable ingest over HTTP (bench/durable-http-server.ts: node:http,
 * JSON.parse, an HMAC per device, the api's write path, 202 after the write), in its own process with the
 * service's Node options, writing into the events table of `mongoUrl` under an app id of its own.
 */
export async function startDurableHttpServer(mongoUrl: string): Promise<DurableHttpServer> {
  const port = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', 'bench/durable-http-server.ts', mongoUrl, String(port), B1_APP_ID], {
    env: { ...process.env, NODE_OPTIONS: serviceNodeOptions() },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const server = { url: `http://127.0.0.1:${port}`, cpuMs: () => processCpuMs(child.pid!), stop: () => void child.kill('SIGKILL') };
  try {
    await new Promise<void>((resolve, reject) => {
      child.stdout.once('data', () => resolve());
      child.once('exit', (code) => reject(new Error(`B1's server exited (${code})`)));
    });
  } catch (err) {
    server.stop();
    throw err;
  }
  return server;
}

/**
 * B1 at a fixed rate: its server fed the service bench's batches by the same open loop. A short unmeasured
 * run first (a new process is slow until compiled). What separates the service's p99 from B1's is the
 * service's own work per batch: HTTP, the load generator and the store are the same.
 */
export async function durableHttpAtRate(
  mongoUrl: string,
  eventsPerSecond: number,
  seconds: number,
  body: () => { body: string; ids: string[] },
): Promise<DurableHttpAtRate> {
  const server = await startDurableHttpServer(mongoUrl);
  try {
    const { url } = server;
    const rate = eventsPerSecond / BATCH;
    await openLoop({ url, ingestKey: 'b1', rate, seconds: 5, body });
    const cpuBefore = server.cpuMs();
    const result = await openLoop({ url, ingestKey: 'b1', rate, seconds, body });
    const cpuPerBatchMs = (server.cpuMs() - cpuBefore) / Math.round(rate * seconds);
    return { p50: result.p50, p99: result.p99, non2xx: result.non2xx, errors: result.errors, cpuPerBatchMs };
  } finally {
    server.stop();
  }
}

/** B1's figures as both benches print them. */
export function describeDurableHttpAtRate(b1: DurableHttpAtRate): string {
  return `p50=${b1.p50}ms p99=${b1.p99}ms non2xx=${b1.non2xx} errors=${b1.errors}; its CPU ${b1.cpuPerBatchMs.toFixed(2)} ms per batch`;
}
