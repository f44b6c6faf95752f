/**
 * npm run bench:ingest — ingest throughput and latency against same-machine baselines (DESIGN.md,
 * Performance protocol). B0: bare node:http answering 202. B2: raw driver insertMany of the same event
 * documents into the same database (the same devices: each 50-event run is one device's), batches of 500,
 * the faster of 1 and 4 concurrent writers, into the service's own events table just before and just
 * after the closed loop (mean), so that the knee and its baseline see the same table sizes; a run into a
 * fresh collection is printed for reference. Then the real api process (ROLE=api, child process, with the
 * Node options of scripts/node-options, as npm start runs it) with batches of 50 events (UUIDv7 eventIds,
 * as the README advises SDKs to generate them; B2's are the same):
 * - a warm-up that fills the table towards the size the open-loop levels run on (25 s, 8 connections);
 * - closed loop (autocannon) at 1, 2, 4… connections until throughput stops growing, then the same steps
 *   in reverse order; each step counts as the mean of its two runs (the table's growth over the ladder
 *   cancels out);
 * - the knee: the point of diminishing returns, the first step whose doubling of connections adds less
 *   than 5% throughput (past it, more load only adds queueing). Beside it: the highest throughput seen
 *   (the nominal capacity) and the step of highest power, throughput ÷ mean latency (Kleinrock);
 * - open loop (fixed rate, latency from the planned send time, 30 s per level) at 50% and 80% of the
 *   knee, and for comparison at 80% of the nominal capacity;
 * - B3 right after the 80% level, at its rate and on the same table: the api's own write path (group
 *   commit on the write lane) fed in-process, no HTTP, Redis or api beside it. Its p99 bounds what the
 *   service can reach on this machine at that moment (the development VM's speed drifts by a fifth within
 *   an hour, so only a baseline taken in the same minutes separates the service's share from the machine's);
 * - B1 right after B3, at the same rate and into the same table: the smallest durable HTTP server on that
 *   write path (bench/durable-http-server.ts: node:http, JSON.parse, an HMAC per device, 202 after the
 *   write) in its own process, fed by the same open loop. HTTP, the load generator and the store are the
 *   service's; what separates the two p99s is the service's own work per batch (its CPU per batch is
 *   printed beside B1's);
 * - peak RSS, and a count proving every accepted event is stored exactly once.
 * Env: BENCH_MONGO_BASE (mongodb://127.0.0.1:27017), BENCH_REDIS_URL, BENCH_DEVICES_PER_BATCH (1: an SDK
 * flushes its own queue; more models a relay), BENCH_DEVICES (1000 consented devices; on FerretDB each
 * consent costs a scan of the consent collections, so many more make the set-up slow),
 * BENCH_WARM_UP_SECONDS (25).
 */
import mongoose from 'mongoose';
import type { StoredEvent } from '../src/ingest/stored-event.js';
import { freePort } from '../test/helpers/ingest-server.js';
import { bareHttp, describeDurableHttpAtRate, describeStoreAtRate, durableHttpAtRate, rawBaseline, storeAtRate } from './ingest-baselines.js';
import { closedLoopKnee, describe, drained, OPEN_LOOP_SECONDS, round, WARM_UP_SECONDS } from './ingest-protocol.js';
import { load, openLoop, type LoadResult } from './ingest-load.js';
import { BATCH, benchSettings, ServiceUnderTest } from './service-under-test.js';

const log = (line: string): void => void process.stdout.write(`${line}\n`);

async function main(): Promise<void> {
  const service = new ServiceUnderTest();
  const { devices, mongoUrl, body } = service;
  const acknowledged = new Set<string>();
  log(`ingest bench: batches of ${BATCH} events from ${benchSettings.devicesPerBatch} devices, ${devices.length} consented devices, db ${service.dbName}`);

  const b0 = await bareHttp(await freePort(), devices, 6);
  log(describe('B0 bare node:http 202 (32 connections)', { ...b0, acceptedPerSecond: b0.requestsPerSecond * BATCH }));

  const b2Fresh = await rawBaseline(mongoUrl, devices.length, 'into a fresh collection with the same indexes as events (reference)', log);

  // The bench's own view of the database: indexes built, table size, the drain check.
  const client = await mongoose.mongo.MongoClient.connect(mongoUrl);
  const events = client.db().collection<Pick<StoredEvent, '_id' | 'appId'>>('events');
  let accepted = 0;
  try {
    await service.start();
    const built = (await events.indexes()).map((index) => index.name);
    log(`the service built these indexes on events (B2 builds the same): ${built.join(', ')}`);
    const { url, ingestKey } = service;
    const run = async (label: string, connections: number, seconds: number): Promise<LoadResult> => {
      await service.settle();
      const result = await load({ url, ingestKey, connections, seconds, body, acknowledged });
      accepted += result.accepted;
      log(describe(label, result));
      return result;
    };

    await run(`warm-up to a steady-state table (8 connections, ${WARM_UP_SECONDS} s)`, 8, WARM_UP_SECONDS);
    // B2 into the service's own events table, just before and just after the ladder: the knee and its
    // baseline are then measured on the same table sizes.
    const b2Before = await rawBaseline(mongoUrl, devices.length, `into the service's events table, before the closed loop (${await events.estimatedDocumentCount()} events stored)`, log, 'events');
    const { knee, nominal } = await closedLoopKnee(run, log);
    const b2After = await rawBaseline(mongoUrl, devices.length, `into the service's events table, after the closed loop (${await events.estimatedDocumentCount()} events stored)`, log, 'events');
    const capacity = knee.result.acceptedPerSecond;
    const fixed = async (label: string, eventsPerSecond: number): Promise<LoadResult> => {
      const rate = Math.max(1, eventsPerSecond / BATCH);
      const { result, server: view, cpuMs } = await service.window(() => openLoop({ url, ingestKey, rate, seconds: OPEN_LOOP_SECONDS, body, acknowledged }));
      accepted += result.accepted;
      log(`${describe(`open loop at ${label} (${round(rate, 1)} req/s)`, result)}; api CPU ${(cpuMs / (rate * OPEN_LOOP_SECONDS)).toFixed(2)} ms per batch`);
      log(`  mean ms per batch by phase: ${view.phases}`);
      log(`  as the server measured it: ${view.slow}; ${view.lane}`);
      return result;
    };
    const at50 = await fixed('50% of the knee', capacity * 0.5);
    const at80 = await fixed('80% of the knee', capacity * 0.8);
    // B3 at the same rate and table size: what the store alone gives there, the bound on the service's p99.
    await service.settle();
    const b3 = await storeAtRate(mongoUrl, capacity * 0.8, OPEN_LOOP_SECONDS, devices.length);
    log(`B3 the api's write path alone (group commit, one writer on FerretDB) at 80% of the knee, in-process, open loop: ${describeStoreAtRate(b3)}`);
    // B1 at the same rate: that write path behind the smallest HTTP server, fed by the same open loop.
    const b1 = await durableHttpAtRate(mongoUrl, capacity * 0.8, OPEN_LOOP_SECONDS, body);
    log(`B1 the smallest durable HTTP server (node:http, JSON.parse, HMAC, the api's write path) at 80% of the knee, open loop: ${describeDurableHttpAtRate(b1)}`);
    const atNominal80 = await fixed('80% of the nominal capacity', nominal * 0.8);
    const rss = service.peakRssMb();

    // Drain: autocannon abandons the requests in flight when a run ends; the server still finishes them.
    await service.settle();
    const ok = await drained(events, service.appId, acknowledged, accepted, log);
    const b2 = (b2Before + b2After) / 2;
    log(
      `B2 (the faster writer count, mean of before and after the closed loop, into the service's table): ${round(b2)} docs/s; ` +
        `into a fresh collection: ${round(b2Fresh)} docs/s (the knee would be ${round(capacity / b2Fresh, 3)} of that)`,
    );
    log(
      `p50/p99 at 50% of the knee: ${at50.p50}/${at50.p99} ms; at 80%: ${at80.p50}/${at80.p99} ms; ` +
        `at 80% of the nominal capacity: ${atNominal80.p50}/${atNominal80.p99} ms; nominal capacity ${round(nominal / b2, 2)} × B2; ` +
        `p99 at 80% ${round(at80.p99 / Math.max(1, b3.p99), 1)} × B3's and ${round(at80.p99 / Math.max(1, b1.p99), 1)} × B1's; ` +
        `peak RSS ${round(rss)} MB; B0 ${round(b0.requestsPerSecond)} req/s`,
    );
    if (!ok) process.exitCode = 1;
    log(`ingest events_per_s=${round(capacity)} ratio_to_insertMany=${round(capacity / b2, 3)} p99_ms_at_80=${at80.p99} rss_mb=${round(rss)}`);
  } finally {
    await client.close();
    await service.stop();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
