/**
 * npm run bench:ingest:at -- <events/s> [windows] [seconds per window] — the service at one fixed load, for
 * comparing a change against the code before it (docs/ingest-performance.md holds such comparisons). The
 * same api process, devices and batches as bench:ingest (bench/service-under-test.ts); a warm-up in a closed
 * loop (8 connections, BENCH_WARM_UP_SECONDS, default 20), then `windows` open-loop windows (default 3,
 * 30 s each) at the given rate, each printed on its own: p50/p99 from the planned send time, answers other
 * than 202, the api's CPU per batch, the server's mean time per phase, its batches over 50 ms and its write
 * lane's use; then B3 at the same rate (bench/ingest.ts): the api's write path alone, the bound on the
 * service's p99 in those minutes; then B1 at that rate: the smallest durable HTTP server on the same write
 * path, fed by the same open loop (its p99 and CPU per batch beside the api's). The first window after a
 * start on a fresh database can be slower than the rest (docs/ingest-performance.md, "The same benchmark on
 * a slower machine"). Run it on fresh services, and never beside another load.
 */
import { load, openLoop } from './ingest-load.js';
import { describeDurableHttpAtRate, describeStoreAtRate, durableHttpAtRate, storeAtRate } from './ingest-baselines.js';
import { BATCH, ServiceUnderTest } from './service-under-test.js';

const [rateArg, windowsArg, secondsArg] = process.argv.slice(2);
const eventsPerSecond = Number(rateArg);
const windows = Number(windowsArg ?? 3);
const seconds = Number(secondsArg ?? 30);
const warmUpSeconds = Number(process.env.BENCH_WARM_UP_SECONDS ?? 20);

const log = (line: string): void => void process.stdout.write(`${line}\n`);

async function main(): Promise<void> {
  if (!(eventsPerSecond > 0) || !(windows >= 1) || !(seconds > 0)) {
    throw new Error('usage: npm run bench:ingest:at -- <events per second> [windows, 3] [seconds per window, 30]');
  }
  const service = new ServiceUnderTest();
  try {
    await service.start();
    const { url, ingestKey, body } = service;
    const warm = await load({ url, ingestKey, connections: 8, seconds: warmUpSeconds, body });
    log(`warm-up (8 connections, ${warmUpSeconds} s): ${Math.round(warm.acceptedPerSecond)} events/s`);
    const rate = eventsPerSecond / BATCH;
    for (let w = 1; w <= windows; w++) {
      const { result, server: view, cpuMs } = await service.window(() => openLoop({ url, ingestKey, rate, seconds, body }));
      const cpuPerBatch = cpuMs / (rate * seconds);
      log(
        `window ${w}/${windows} at ${eventsPerSecond} events/s: p50=${result.p50}ms p99=${result.p99}ms mean=${result.mean.toFixed(1)}ms ` +
          `non2xx=${result.non2xx} errors=${result.errors}; api CPU ${cpuPerBatch.toFixed(2)} ms per batch; ${view.slow}`,
      );
      log(`  mean ms per batch by phase: ${view.phases}`);
      log(`  ${view.lane}`);
    }
    // B3 (bench/ingest.ts) at the same rate: what the store alone gives in these minutes.
    await service.settle();
    const b3 = await storeAtRate(service.mongoUrl, eventsPerSecond, seconds, service.devices.length);
    log(`B3 the api's write path alone at ${eventsPerSecond} events/s: ${describeStoreAtRate(b3)}`);
    // B1 (bench/ingest.ts): the smallest durable HTTP server on that write path, fed by the same open loop.
    const b1 = await durableHttpAtRate(service.mongoUrl, eventsPerSecond, seconds, body);
    log(`B1 the smallest durable HTTP server at ${eventsPerSecond} events/s: ${describeDurableHttpAtRate(b1)}`);
  } finally {
    await service.stop();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
