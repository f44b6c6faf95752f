/**
 * npm run bench:dsar — DSAR export and erasure of one device with DSAR_DEVICE_EVENTS (100k) raw events among
 * DSAR_TOTAL (1M) events, against the raw driver on the same data in the same run (DESIGN.md, Performance
 * protocol):
 * - export: the privacy job's export (every registered collection → JSON + CSV + manifest, deflated,
 *   AES-256-GCM, stored in chunks) vs a raw `find({appId, pid})` drained (same batch size as the export's
 *   cursor; timed before and after the export, mean);
 * - erasure: the privacy job's erasure (suppress, count, deleteMany, verify zero, signed receipt) vs a raw
 *   `deleteMany({appId, pid})`; the device's events are re-inserted in between, so both see the same data.
 * RSS delta: the larger peak RSS growth of the two privacy jobs, each measured from a full GC just before it.
 * Data is written with raw insertMany in batches of 10k. Time box: the device's events go in first, then
 * the total doubles while a timed scan says the rest of the run still fits DSAR_BUDGET_SECONDS (570);
 * when DSAR_TOTAL does not fit, the run says so and measures with what did. A watchdog stops the run
 * 60 s past the budget.
 * Env also: BENCH_MONGO_BASE (mongodb://127.0.0.1:27017), BENCH_REDIS_URL (redis://127.0.0.1:6379).
 * Last line: `dsar export_ratio=<r> delete_ratio=<r> rss_delta_mb=<mb>`.
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { loadConfig } from '../src/config.js';
import { createContainer, type Container } from '../src/container.js';
import { createLogger } from '../src/logger.js';
import { detectIdLookup } from '../src/ingest/id-lookup.js';
import { eventDocId } from '../src/ingest/stored-event.js';
import { deleteIdRanges, FERRETDB_DELETE_RANGE, matchingIds } from '../src/privacy/bulk-delete.js';
import type { Viewer } from '../src/privacy/privacy-service.js';
import { deleteRedisPrefix } from '../test/helpers/test-context.js';

const MONGO_BASE = process.env.BENCH_MONGO_BASE ?? 'mongodb://127.0.0.1:27017';
const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
const TARGET_TOTAL = Number(process.env.DSAR_TOTAL ?? 1_000_000);
const DEVICE_EVENTS = Number(process.env.DSAR_DEVICE_EVENTS ?? 100_000);
const BUDGET_MS = Number(process.env.DSAR_BUDGET_SECONDS ?? 570) * 1000;
const BATCH = 10_000;
const APP_ID = 'com.bench.dsar';
const HOT_DEVICE = 'bench-hot-device';
/**
 * Full scans after loading, FerretDB worst case (it scans for every query but `_id` equality): raw find ×2,
 * export; raw delete (the ids, 4 ranges); erasure (the ids, which are its count, 4 ranges, verify) — 14,
 * weighted as 18: a ranged delete also writes (about 1.4 scans each, measured).
 */
const SCANS = 18;

const log = (line: string): void => void process.stdout.write(`${line}\n`);
// A full GC before each RSS baseline, so the delta is what the job holds, not the loader's garbage.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const seconds = (ms: number): string => (ms / 1000).toFixed(2);
const started = performance.now();
const elapsed = (): number => performance.now() - started;

async function timed<T>(f: () => Promise<T>): Promise<[T, number]> {
  const t0 = performance.now();
  const value = await f();
  return [value, performance.now() - t0];
}

function eventDoc(i: number, pid: string, prefix: string): Record<string, unknown> {
  const at = new Date(Date.now() - 3_600_000 - (i % 86_400) * 1000);
  const eventId = `${prefix}-${i.toString(36)}`;
  return {
    _id: eventDocId(APP_ID, pid, eventId),
    appId: APP_ID,
    pid,
    type: ['download_started', 'download_completed', 'installed', 'app_ready'][i % 4],
    version: `1.${i % 7}.0`,
    channel: 'production',
    platform: i % 2 === 0 ? 'ios' : 'android',
    occurredAt: at,
    receivedAt: at,
    ...(i % 50 === 0 ? { errorCode: 'E_NET', durationMs: i % 5000 } : {}),
  };
}

async function insertRange(c: Container, from: number, to: number, pidOf: (i: number) => string, prefix: string): Promise<void> {
  const events = c.mongo.db!.collection('events');
  for (let start = from; start < to; start += BATCH) {
    const docs = [];
    for (let i = start; i < Math.min(to, start + BATCH); i++) docs.push(eventDoc(i, pidOf(i), prefix));
    await events.insertMany(docs as never[], { ordered: false });
  }
}

/** Samples RSS while `f` runs; returns its result, duration and the peak above the RSS it started from. */
async function withPeakRss<T>(f: () => Promise<T>): Promise<[T, number, number]> {
  gc();
  const start = process.memoryUsage().rss;
  let peak = start;
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
  try {
    const [value, ms] = await timed(f);
    return [value, ms, Math.max(peak, process.memoryUsage().rss) - start];
  } finally {
    clearInterval(timer);
  }
}

async function main(): Promise<void> {
  const dbName = `bench_dsar_${Date.now().toString(36)}`;
  const queuePrefix = `bench-dsar-${randomBytes(3).toString('hex')}`;
  const config = loadConfig({
    NODE_ENV: 'test',
    MONGODB_URL: `${MONGO_BASE}/${dbName}`,
    REDIS_URL,
    QUEUE_PREFIX: queuePrefix,
    MASTER_KEY: randomBytes(32).toString('hex'),
    LOG_LEVEL: 'silent',
  });
  const c = await createContainer(config, { logger: createLogger('silent') });
  const cleanUp = async (): Promise<void> => {
    await c.mongo.db?.dropDatabase().catch(() => undefined);
    await c.close();
    await deleteRedisPrefix(queuePrefix).catch(() => undefined);
  };
  try {
    await c.apps.create({ appId: APP_ID, name: 'dsar bench' });
    const hotPid = c.pseudonyms.pid(APP_ID, HOT_DEVICE);
    const coldPid = (i: number): string => `${(i % 50_000).toString(16).padStart(8, '0')}${'c'.repeat(56)}`;
    const db = c.mongo.db!;

    // Load: the device's events first, then double the total while the projected run still fits the budget
    // (a count over the collection times one full scan at the current size before each doubling).
    const [, hotInsertMs] = await timed(() => insertRange(c, 0, DEVICE_EVENTS, () => hotPid, 'hot'));
    const insertPerDoc = hotInsertMs / DEVICE_EVENTS;
    let total = DEVICE_EVENTS;
    for (;;) {
      const [, scanMs] = await timed(() => db.collection('events').countDocuments({ appId: APP_ID, pid: 'none' }));
      const next = Math.min(TARGET_TOTAL, total * 2);
      // Scans grow a little faster than linearly on FerretDB: 1.25 as a safety factor.
      const projected = (next - total) * insertPerDoc + SCANS * (scanMs / total) * next * 1.25;
      log(`dsar load: ${total} events, scan ${seconds(scanMs)} s; ${next} would need about ${seconds(projected)} s more`);
      if (next === total || elapsed() + projected > BUDGET_MS) break;
      await insertRange(c, total, next, coldPid, 'cold');
      total = next;
    }
    if (total < TARGET_TOTAL) log(`dsar: ${TARGET_TOTAL} events do not fit the ${BUDGET_MS / 1000} s budget on this machine now; measuring with ${total}`);
    if (total < DEVICE_EVENTS * 2) throw new Error(`only ${total} events fit the budget: too few to measure`);
    log(`dsar data: ${total} events (${DEVICE_EVENTS} of the device), loaded at ${seconds(elapsed())} s`);
    const watchdog = setTimeout(() => {
      process.stderr.write(`bench:dsar: over budget (${BUDGET_MS / 1000} s + 60 s); stopping\n`);
      void cleanUp().finally(() => process.exit(2));
    }, BUDGET_MS + 60_000 - elapsed());
    watchdog.unref();

    const admin: Viewer = { kind: 'admin', keyId: 'bench', appIds: [] };

    // Export vs raw find, drained with the export cursor's batch size, timed before and after (mean): the
    // machine is shared, so one baseline alone would carry whatever load the moment had.
    const rawFind = (): Promise<[number, number]> =>
      timed(async () => {
        let n = 0;
        for await (const _doc of db.collection('events').find({ appId: APP_ID, pid: hotPid }, { batchSize: 1000 })) n++;
        return n;
      });
    const [found, findBeforeMs] = await rawFind();
    const exportRequest = await c.privacy.requests.create({ appId: APP_ID, deviceId: HOT_DEVICE, type: 'export', jurisdiction: 'gdpr' }, admin);
    const [exportStatus, exportMs, exportPeak] = await withPeakRss(() => c.privacy.processor.run(exportRequest.request.id, { number: 1, final: true }));
    const [, findAfterMs] = await rawFind();
    const findMs = (findBeforeMs + findAfterMs) / 2;
    const exported = await c.privacy.requests.get(exportRequest.request.id, admin);
    const records = exported.steps.find((s) => s.name === 'export:events')?.records;
    if (exportStatus !== 'completed' || found !== DEVICE_EVENTS || records !== DEVICE_EVENTS) {
      throw new Error(`export check failed: status ${exportStatus}, find ${found}, exported ${records}`);
    }
    const [bytes, downloadMs] = await timed(async () => {
      let n = 0;
      for await (const chunk of (await c.privacy.documents.exportArchive(exportRequest.request.id, admin)).body) n += chunk.length;
      return n;
    });
    const plainBytes = (exported.export?.parts ?? []).reduce((sum, p) => sum + p.size, 0);
    log(`dsar export: raw find ${seconds(findBeforeMs)} s / ${seconds(findAfterMs)} s (before / after), export job ${seconds(exportMs)} s (${(plainBytes / 1e6).toFixed(1)} MB JSON+CSV, ${(bytes / 1e6).toFixed(1)} MB zip), download ${seconds(downloadMs)} s`);

    // Erasure vs raw deleteMany, on the same data: the erasure runs first (so a penalty for going first
    // falls on it), then the device's events are put back and the raw delete runs. FerretDB refuses a
    // deleteMany of more than 32,766 documents (test/e2e/privacy-bulk-delete.test.ts); there the baseline
    // is the cheapest raw way that works: the ids read once, one deleteMany per 30,000-id range — what the
    // erasure does there too.
    const eraseRequest = await c.privacy.requests.create({ appId: APP_ID, deviceId: HOT_DEVICE, type: 'delete', jurisdiction: 'gdpr' }, admin);
    const [eraseStatus, eraseMs, erasePeak] = await withPeakRss(() => c.privacy.processor.run(eraseRequest.request.id, { number: 1, final: true }));
    const receipt = await c.privacy.documents.receipt(eraseRequest.request.id, admin);
    if (eraseStatus !== 'completed' || receipt.receipt.erased.events !== DEVICE_EVENTS) {
      throw new Error(`erasure check failed: status ${eraseStatus}, receipt ${JSON.stringify(receipt.receipt.erased)}`);
    }
    await insertRange(c, 0, DEVICE_EVENTS, () => hotPid, 'hot');
    const events = db.collection('events');
    const filter = { appId: APP_ID, pid: hotPid };
    const ferret = (await detectIdLookup(c.mongo)) === 'each' && DEVICE_EVENTS > 32_766;
    const baseline = ferret ? `deleteMany per ${FERRETDB_DELETE_RANGE}-id range (FerretDB refuses one deleteMany of ${DEVICE_EVENTS})` : 'deleteMany';
    const [deleted, deleteMs] = await timed(async () =>
      ferret ? deleteIdRanges(events, filter, await matchingIds(events, filter), FERRETDB_DELETE_RANGE) : (await events.deleteMany(filter)).deletedCount,
    );
    if (deleted !== DEVICE_EVENTS) throw new Error(`raw delete removed ${deleted}`);
    const erased = await c.privacy.requests.get(eraseRequest.request.id, admin);
    const phases = erased.steps.map((s) => `${s.name} ${s.startedAt && s.doneAt ? seconds(s.doneAt.getTime() - s.startedAt.getTime()) : '?'}`).join(', ');
    log(`dsar erasure: raw ${baseline} ${seconds(deleteMs)} s, erasure job ${seconds(eraseMs)} s (${phases})`);

    const rssDeltaMb = Math.max(exportPeak, erasePeak) / 1_048_576;
    const mb = (bytes: number): string => `+${(bytes / 1_048_576).toFixed(1)} MB`;
    log(`dsar rss: peak ${mb(exportPeak)} during the export, ${mb(erasePeak)} during the erasure (each above the RSS after a full GC just before it)`);
    log(`dsar total wall ${seconds(elapsed())} s`);
    log(`dsar export_ratio=${(exportMs / findMs).toFixed(2)} delete_ratio=${(eraseMs / deleteMs).toFixed(2)} rss_delta_mb=${rssDeltaMb.toFixed(1)}`);
  } finally {
    await cleanUp();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:dsar failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
