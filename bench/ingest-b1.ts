/**
 * npm run bench:ingest:b1 — B1 under the whole protocol of bench:ingest: what the issue's bars allow on this
 * machine. B1 (bench/durable-http-server.ts) is the smallest durable ingest over HTTP on the api's write path:
 * node:http, JSON.parse, an HMAC per device, 202 once the insert is acknowledged; none of the service's
 * validation, consent, suppression, rate limits, Redis, device state, metrics or framework. bench:ingest
 * measures it only at the service's own 80% level; here it gets its own knee, found the same way: B2 into a
 * fresh collection and into B1's table before and after the ladder, a warm-up (BENCH_WARM_UP_SECONDS, 25 s,
 * 8 connections), the mirrored closed-loop ladder and its knee (bench/ingest-protocol.ts), the open loop at
 * 50% and 80% of the knee (30 s each, latency from the planned send time), B3 at the 80% rate, and the drain
 * check. Its last line has the service's form, for B1:
 * `b1 events_per_s=<n> ratio_to_insertMany=<r> p99_ms_at_80=<ms>`.
 * If B1 misses a bar in a run, no ingest on this write path could have met it on this machine in those minutes.
 * Env: BENCH_MONGO_BASE, BENCH_DEVICES (1000), BENCH_WARM_UP_SECONDS.
 */
import { randomUUID } from 'node:crypto';
import mongoose from 'mongoose';
import type { StoredEvent } from '../src/ingest/stored-event.js';
import { dropDatabase } from '../test/helpers/test-context.js';
import { B1_APP_ID, describeStoreAtRate, rawBaseline, startDurableHttpServer, storeAtRate, type DurableHttpServer } from './ingest-baselines.js';
import { closedLoopKnee, describe, drained, OPEN_LOOP_SECONDS, round, WARM_UP_SECONDS } from './ingest-protocol.js';
import { batchBody, load, openLoop, type LoadResult } from './ingest-load.js';
import { BATCH, benchSettings } from './service-under-test.js';

/** B1 reports no work in flight; after a closed-loop run it finishes the requests autocannon abandoned. */
const SETTLE_MS = 500;

const log = (line: string): void => void process.stdout.write(`${line}\n`);
const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function main(): Promise<void> {
  const mongoUrl = `${benchSettings.mongoBase}/bench_b1_${Date.now().toString(36)}`;
  const devices = Array.from({ length: benchSettings.devices }, (_, i) => `bench-device-${i}-${randomUUID()}`);
  const body = (): { body: string; ids: string[] } => batchBody(devices, BATCH, 1);
  const acknowledged = new Set<string>();
  log(`B1 under the ingest protocol: batches of ${BATCH} events from one device each, ${devices.length} devices, ${mongoUrl}`);

  const b2Fresh = await rawBaseline(mongoUrl, devices.length, 'into a fresh collection with the same indexes as events (reference)', log);
  const client = await mongoose.mongo.MongoClient.connect(mongoUrl);
  const events = client.db().collection<Pick<StoredEvent, '_id' | 'appId'>>('events');
  const stored = (): Promise<number> => events.estimatedDocumentCount();
  let server: DurableHttpServer | undefined;
  try {
    server = await startDurableHttpServer(mongoUrl);
    const { url, cpuMs } = server;
    const ingestKey = 'b1';
    let accepted = 0;
    const run = async (label: string, connections: number, seconds: number): Promise<LoadResult> => {
      await pause(SETTLE_MS);
      const result = await load({ url, ingestKey, connections, seconds, body, acknowledged });
      accepted += result.accepted;
      log(describe(label, result));
      return result;
    };
    await run(`warm-up (8 connections, ${WARM_UP_SECONDS} s)`, 8, WARM_UP_SECONDS);
    const b2Before = await rawBaseline(mongoUrl, devices.length, `into B1's events table, before the closed loop (${await stored()} events stored)`, log, 'events');
    const { knee } = await closedLoopKnee(run, log);
    const b2After = await rawBaseline(mongoUrl, devices.length, `into B1's events table, after the closed loop (${await stored()} events stored)`, log, 'events');
    const capacity = knee.result.acceptedPerSecond;
    const fixed = async (label: string, eventsPerSecond: number): Promise<LoadResult> => {
      await pause(SETTLE_MS);
      const rate = Math.max(1, eventsPerSecond / BATCH);
      const cpuBefore = cpuMs();
      const result = await openLoop({ url, ingestKey, rate, seconds: OPEN_LOOP_SECONDS, body, acknowledged });
      accepted += result.accepted;
      log(`${describe(`open loop at ${label} (${round(rate, 1)} req/s)`, result)}; B1's CPU ${((cpuMs() - cpuBefore) / (rate * OPEN_LOOP_SECONDS)).toFixed(2)} ms per batch`);
      return result;
    };
    const at50 = await fixed('50% of the knee', capacity * 0.5);
    const at80 = await fixed('80% of the knee', capacity * 0.8);
    await pause(SETTLE_MS);
    const b3 = await storeAtRate(mongoUrl, capacity * 0.8, OPEN_LOOP_SECONDS, devices.length);
    log(`B3 the api's write path alone at 80% of B1's knee, in-process, open loop: ${describeStoreAtRate(b3)}`);

    const ok = await drained(events, B1_APP_ID, acknowledged, accepted, log);
    const b2 = (b2Before + b2After) / 2;
    log(
      `B2 (mean of before and after the closed loop, into B1's table): ${round(b2)} docs/s; into a fresh collection: ${round(b2Fresh)} docs/s; ` +
        `p50/p99 at 50% of the knee: ${at50.p50}/${at50.p99} ms; at 80%: ${at80.p50}/${at80.p99} ms (B3 ${b3.p50}/${b3.p99} ms)`,
    );
    if (!ok) process.exitCode = 1;
    log(`b1 events_per_s=${round(capacity)} ratio_to_insertMany=${round(capacity / b2, 3)} p99_ms_at_80=${at80.p99}`);
  } finally {
    server?.stop();
    await client.close();
    await dropDatabase(mongoUrl).catch(() => undefined);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
