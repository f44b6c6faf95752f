/**
 * npm run bench:freshness — how long an accepted event takes to show in GET /v1/apps/{appId}/metrics while
 * ingest runs at half its knee (DESIGN.md, Performance protocol). A real api process (ROLE=api, child
 * process, loopback only); background batches of 50 events at 50% of the knee, open loop; meanwhile n
 * tagged events, each about a version of its own, are sent one by one and the metrics API is polled until
 * that version appears. Time = first poll that shows it − the tagged event's 202.
 * Env: FRESHNESS_KNEE_EPS (events/s; measured for 5 s when unset), FRESHNESS_N (200),
 * BENCH_MONGO_BASE (mongodb://127.0.0.1:27017), BENCH_REDIS_URL (redis://127.0.0.1:6379).
 * Last line: `freshness p50_ms=<n> p99_ms=<n>`.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import mongoose from 'mongoose';
import { freePort, ServerProcess } from '../test/helpers/ingest-server.js';
import { deleteRedisPrefix } from '../test/helpers/test-context.js';

const MONGO_BASE = process.env.BENCH_MONGO_BASE ?? 'mongodb://127.0.0.1:27017';
const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
const N = Number(process.env.FRESHNESS_N ?? 200);
const KNEE_ENV = process.env.FRESHNESS_KNEE_EPS ? Number(process.env.FRESHNESS_KNEE_EPS) : undefined;
const BATCH = 50;
const POLL_MS = 40;
const TAGGED_IN_FLIGHT = 3;
const APP_ID = 'com.bench.freshness';

const log = (line: string): void => void process.stdout.write(`${line}\n`);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const quantile = (sorted: readonly number[], q: number): number => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] ?? NaN;

function event(deviceId: string, version: string, type = 'app_ready'): Record<string, unknown> {
  const platform = deviceId.charCodeAt(deviceId.length - 1) % 2 === 0 ? 'ios' : 'android';
  return { eventId: randomUUID(), deviceId, type, version, channel: 'production', platform, occurredAt: new Date(Date.now() - 50).toISOString() };
}

const TYPES = ['download_started', 'download_completed', 'installed', 'app_ready', 'app_ready', 'app_ready', 'crash'];

async function main(): Promise<void> {
  const dbName = `bench_fresh_${Date.now().toString(36)}`;
  const prefix = `bench_${randomBytes(4).toString('hex')}`;
  const adminKey = `adm_${randomBytes(24).toString('hex')}`;
  const server = new ServerProcess(
    {
      NODE_ENV: 'production',
      ROLE: 'api',
      LOG_LEVEL: 'warn',
      MONGODB_URL: `${MONGO_BASE}/${dbName}`,
      REDIS_URL,
      QUEUE_PREFIX: prefix,
      MASTER_KEY: 'ef'.repeat(32),
      BOOTSTRAP_ADMIN_KEY: adminKey,
      INGEST_APP_EVENTS_PER_SECOND: '10000000',
      INGEST_DEVICE_EVENTS_PER_MINUTE: '10000000',
    },
    await freePort(),
  );
  await server.start();
  const base = server.url;
  const admin = { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' };
  try {
    const created = (await (await fetch(`${base}/v1/apps`, { method: 'POST', headers: admin, body: JSON.stringify({ appId: APP_ID, name: 'Freshness' }) })).json()) as { ingestKey: string };
    const device = { authorization: `Bearer ${created.ingestKey}`, 'content-type': 'application/json' };
    const devices = Array.from({ length: 500 }, (_, i) => `fresh-${i}-${randomUUID()}`);
    for (let i = 0; i < devices.length; i += 25) {
      await Promise.all(
        devices.slice(i, i + 25).map(async (deviceId) => {
          const res = await fetch(`${base}/v1/consent`, { method: 'POST', headers: device, body: JSON.stringify({ deviceId, granted: true, purposes: ['telemetry'], policyVersion: '1', source: 'bench' }) });
          if (!res.ok) throw new Error(`consent: ${res.status} ${await res.text()}`);
        }),
      );
    }
    const background = devices.slice(0, 400);
    const tagged = devices.slice(400);
    const latencies: number[] = [];
    let accepted = 0;
    let refused = 0;
    /** Latency of a 202, or undefined when ingest refused the batch (503 under overload: nothing was stored). */
    const post = async (events: unknown[]): Promise<number | undefined> => {
      const t = performance.now();
      const res = await fetch(`${base}/v1/events`, { method: 'POST', headers: device, body: JSON.stringify({ events }) });
      const body = (await res.json()) as { accepted?: number };
      if (res.status === 503 || res.status === 429) {
        refused++;
        return undefined;
      }
      if (res.status !== 202) throw new Error(`ingest: ${res.status} ${JSON.stringify(body)}`);
      accepted += body.accepted ?? 0;
      return performance.now() - t;
    };
    // Like bench:ingest: each batch is one device flushing its own queue (an SDK), 50 events.
    const batch = (): unknown[] => {
      const deviceId = background[Math.floor(Math.random() * background.length)]!;
      return Array.from({ length: BATCH }, (_, i) => event(deviceId, '2.4.1', TYPES[i % TYPES.length]));
    };

    let knee = KNEE_ENV;
    if (knee === undefined) {
      // Closed loop, 8 connections (where bench:ingest finds the knee), 5 s: a quick estimate.
      const warm = performance.now() + 3000;
      await Promise.all(Array.from({ length: 8 }, async () => {
        while (performance.now() < warm) await post(batch());
      }));
      const end = performance.now() + 5000;
      const before = accepted;
      await Promise.all(Array.from({ length: 8 }, async () => {
        while (performance.now() < end) await post(batch());
      }));
      knee = (accepted - before) / 5;
      log(`knee (closed loop, 8 connections, 5 s after a 3 s warm-up): ${Math.round(knee)} events/s (${refused} batches refused with 503/429)`);
      refused = 0;
    } else {
      log(`knee (FRESHNESS_KNEE_EPS): ${knee} events/s`);
    }
    const rate = (knee * 0.5) / BATCH; // batches per second

    // Open-loop background at 50% of the knee until the tagged run is done.
    let running = true;
    const ingestLatencies: number[] = [];
    let late = 0;
    const backgroundDone = (async () => {
      const t0 = performance.now();
      const pending: Array<Promise<void>> = [];
      for (let k = 0; running; k++) {
        const due = t0 + (k * 1000) / rate;
        const wait = due - performance.now();
        if (wait > 0) await sleep(wait);
        else if (wait < -1000) late++;
        pending.push(post(batch()).then((ms) => void (ms !== undefined && ingestLatencies.push(ms))));
        if (pending.length > 2000) await Promise.all(pending.splice(0, 1000));
      }
      await Promise.all(pending);
      return (performance.now() - t0) / 1000;
    })();
    await sleep(2000); // reach steady state

    const measureOne = async (i: number): Promise<void> => {
      const version = `fresh-${i}-${randomBytes(3).toString('hex')}`;
      const e = event(tagged[i % tagged.length]!, version);
      const minute = Math.floor(Date.parse(String(e.occurredAt)) / 60_000) * 60_000;
      const query = `bucket=minute&version=${version}&from=${new Date(minute).toISOString()}&to=${new Date(minute + 60_000).toISOString()}`;
      while ((await post([e])) === undefined) await sleep(100); // refused: nothing stored, send again
      const acknowledged = performance.now();
      for (;;) {
        const res = await fetch(`${base}/v1/apps/${APP_ID}/metrics?${query}`, { headers: admin });
        const body = (await res.json()) as { versions?: Array<{ activeDevices: number }> };
        if (!res.ok) throw new Error(`metrics: ${res.status} ${JSON.stringify(body)}`);
        if ((body.versions?.[0]?.activeDevices ?? 0) >= 1) break;
        if (performance.now() - acknowledged > 30_000) throw new Error(`tagged event ${i} not visible after 30 s`);
        await sleep(POLL_MS);
      }
      latencies.push(performance.now() - acknowledged);
    };
    let next = 0;
    await Promise.all(
      Array.from({ length: TAGGED_IN_FLIGHT }, async () => {
        while (next < N) {
          const i = next++;
          await measureOne(i);
          await sleep(20);
        }
      }),
    );
    running = false;
    const seconds = await backgroundDone;

    const metricsText = await (await fetch(`${base}/metrics`)).text();
    const lagCount = Number(/otaguard_metrics_flush_lag_seconds_count (\d+)/.exec(metricsText)?.[1] ?? 0);
    const lagSum = Number(/otaguard_metrics_flush_lag_seconds_sum ([\d.e+-]+)/.exec(metricsText)?.[1] ?? 0);
    const sortedIngest = [...ingestLatencies].sort((a, b) => a - b);
    log(
      `background ingest at 50% of knee: target ${Math.round(rate * BATCH)} events/s, ${ingestLatencies.length} batches answered 202 in ${seconds.toFixed(1)} s ` +
        `(${Math.round((ingestLatencies.length * BATCH) / seconds)} events/s accepted), 202 latency p50=${Math.round(quantile(sortedIngest, 0.5))}ms p99=${Math.round(quantile(sortedIngest, 0.99))}ms, refused=${refused}, late sends=${late}`,
    );
    log(`server flush lag: ${lagCount} flushes, mean ${lagCount ? ((lagSum / lagCount) * 1000).toFixed(0) : '?'} ms (otaguard_metrics_flush_lag_seconds)`);
    const sorted = [...latencies].sort((a, b) => a - b);
    log(`tagged events: n=${sorted.length}, poll interval ${POLL_MS} ms, max ${Math.round(sorted[sorted.length - 1] ?? NaN)} ms`);
    log(`freshness p50_ms=${Math.round(quantile(sorted, 0.5))} p99_ms=${Math.round(quantile(sorted, 0.99))}`);
  } finally {
    await server.kill('SIGTERM');
    const client = await mongoose.mongo.MongoClient.connect(`${MONGO_BASE}/${dbName}`);
    await client.db().dropDatabase().catch(() => undefined);
    await client.close();
    await deleteRedisPrefix(prefix);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
