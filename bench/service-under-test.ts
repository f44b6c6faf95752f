import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { deleteRedisPrefix, dropDatabase } from '../test/helpers/test-context.js';
import { freePort, ServerProcess } from '../test/helpers/ingest-server.js';
import { batchBody } from './ingest-load.js';

export const BATCH = 50;
const APP_ID = 'com.bench.ingest';

/** Settings shared by the ingest benchmarks (README, "Device telemetry ingest"). */
export const benchSettings = {
  mongoBase: process.env.BENCH_MONGO_BASE ?? 'mongodb://127.0.0.1:27017',
  redisUrl: process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379',
  devicesPerBatch: Number(process.env.BENCH_DEVICES_PER_BATCH ?? 1),
  // On FerretDB each consent costs a scan of the consent collections, so many more make the set-up slow.
  devices: Number(process.env.BENCH_DEVICES ?? 1000),
  /** Extra flags for the api's node: `--cpu-prof`, or `--trace-gc`, which NODE_OPTIONS does not accept. */
  apiNodeArgs: (process.env.BENCH_API_NODE_ARGS ?? '').split(' ').filter(Boolean),
};

async function post(url: string, key: string, body: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` }, body: JSON.stringify(body) });
  if (!res.ok) throw new Error(`${url}: ${res.status} ${await res.text()}`);
  return (await res.json()) as Record<string, unknown>;
}

/**
 * The real api process (ROLE=api, child process, with the Node options of scripts/node-options, as npm
 * start runs it) on a database and a Redis prefix of its own, with one app and `benchSettings.devices`
 * consented devices. Rate limits stay on (their Redis round trips are part of the cost) but high enough
 * not to refuse the load.
 */
export class ServiceUnderTest {
  readonly appId = APP_ID;
  readonly dbName = `bench_ingest_${Date.now().toString(36)}`;
  readonly mongoUrl = `${benchSettings.mongoBase}/${this.dbName}`;
  readonly prefix = `bench_${randomBytes(4).toString('hex')}`;
  readonly devices = Array.from({ length: benchSettings.devices }, (_, i) => `bench-device-${i}-${randomUUID()}`);
  private readonly adminKey = `adm_${randomBytes(24).toString('hex')}`;
  private server?: ServerProcess;
  private key?: string;

  /** A fresh batch: UUIDv7 eventIds (as the README advises SDKs), from `devicesPerBatch` devices. */
  readonly body = (): { body: string; ids: string[] } => batchBody(this.devices, BATCH, benchSettings.devicesPerBatch);

  get url(): string {
    return this.running.url;
  }

  get pid(): number | undefined {
    return this.running.pid;
  }

  get ingestKey(): string {
    if (!this.key) throw new Error('the service is not started');
    return this.key;
  }

  private get running(): ServerProcess {
    if (!this.server) throw new Error('the service is not started');
    return this.server;
  }

  /** Starts the api, creates the app and gives every device its telemetry consent. */
  async start(): Promise<void> {
    this.server = new ServerProcess(
      {
        NODE_ENV: 'production',
        ROLE: 'api',
        LOG_LEVEL: 'warn',
        MONGODB_URL: this.mongoUrl,
        REDIS_URL: benchSettings.redisUrl,
        QUEUE_PREFIX: this.prefix,
        MASTER_KEY: 'cd'.repeat(32),
        BOOTSTRAP_ADMIN_KEY: this.adminKey,
        INGEST_APP_EVENTS_PER_SECOND: '10000000',
        INGEST_DEVICE_EVENTS_PER_MINUTE: '10000000',
      },
      await freePort(),
      benchSettings.apiNodeArgs,
    );
    await this.server.start();
    const created = await post(`${this.url}/v1/apps`, this.adminKey, { appId: APP_ID, name: 'Bench' });
    this.key = String(created.ingestKey);
    for (let i = 0; i < this.devices.length; i += 20) {
      await Promise.all(
        this.devices.slice(i, i + 20).map((deviceId) =>
          post(`${this.url}/v1/consent`, this.ingestKey, { deviceId, granted: true, purposes: ['telemetry'], policyVersion: '1', source: 'bench' }),
        ),
      );
    }
  }

  scrape(): Promise<string> {
    return fetch(`${this.url}/metrics`).then((res) => res.text());
  }

  /**
   * Waits until the api works on no batch (its in-flight gauge): autocannon drops the requests in flight
   * when a run ends, and the server still works on them.
   */
  async settle(): Promise<void> {
    for (let i = 0; i < 50; i++) {
      if (/^otaguard_ingest_in_flight_batches 0$/m.test(await this.scrape())) return;
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /**
   * One measured window, once the api has settled: `run`'s result, what the server measured meanwhile
   * (`serverView`) and the api's CPU time over it, in ms.
   */
  async window<T>(run: () => Promise<T>): Promise<{ result: T; server: ServerView; cpuMs: number }> {
    await this.settle();
    const before = await this.scrape();
    const cpuBefore = this.cpuMs();
    const startedAt = performance.now();
    const result = await run();
    const cpuMs = this.cpuMs() - cpuBefore;
    return { result, server: serverView(before, await this.scrape(), (performance.now() - startedAt) / 1000), cpuMs };
  }

  /** Peak resident memory of the api process (VmHWM), in MB. */
  peakRssMb(): number {
    const status = readFileSync(`/proc/${this.pid}/status`, 'utf8');
    return Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
  }

  /** The api process's CPU time so far (user + system), in ms; Linux only. */
  cpuMs(): number {
    return processCpuMs(this.running.pid!);
  }

  /** Stops the api, drops its database and removes its Redis keys. */
  async stop(): Promise<void> {
    await this.server?.kill('SIGTERM');
    await dropDatabase(this.mongoUrl).catch(() => undefined);
    await deleteRedisPrefix(this.prefix);
  }
}

/** `otaguard_ingest_phase_seconds` sums and counts, by phase, from a /metrics scrape. */
function phaseTotals(text: string): Map<string, { sum: number; count: number }> {
  const totals = new Map<string, { sum: number; count: number }>();
  for (const [, kind, phase, value] of text.matchAll(/^otaguard_ingest_phase_seconds_(sum|count)\{phase="(\w+)"\} (\S+)$/gm)) {
    const entry = totals.get(phase!) ?? { sum: 0, count: 0 };
    entry[kind as 'sum' | 'count'] = Number(value);
    totals.set(phase!, entry);
  }
  return totals;
}

/** Event batches answered 202 so far, and how many of them within 50 ms, as the server measured them. */
function within50ms(text: string): { count: number; within: number } {
  const sum = (re: RegExp): number => [...text.matchAll(re)].reduce((n, m) => n + Number(m[1]), 0);
  return {
    count: sum(/^otaguard_http_request_duration_seconds_count\{[^}]*route="\/v1\/events"[^}]*status="202"[^}]*\} (\S+)$/gm),
    within: sum(/^otaguard_http_request_duration_seconds_bucket\{le="0\.05"[^}]*route="\/v1\/events"[^}]*status="202"[^}]*\} (\S+)$/gm),
  };
}

/** A process's CPU time so far (user + system), in ms; Linux only. */
export function processCpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // clock ticks of 1/100 s
}

/** A sum of /metrics samples by one label's value (`otaguard_write_lane_held_seconds_sum{writer}`…). */
function byLabel(text: string, metric: string, label: string): Map<string, number> {
  const totals = new Map<string, number>();
  for (const [, value, sample] of text.matchAll(new RegExp(`^${metric}\\{[^}]*${label}="(\\w+)"[^}]*\\} (\\S+)$`, 'gm'))) {
    totals.set(value!, (totals.get(value!) ?? 0) + Number(sample));
  }
  return totals;
}

/** The write lane over a window: the share of it each writer held a slot, its writes' mean time and wait. */
function laneView(before: string, after: string, seconds: number): string {
  const delta = (metric: string): Map<string, number> => {
    const b = byLabel(before, metric, 'writer');
    return new Map([...byLabel(after, metric, 'writer')].map(([writer, v]) => [writer, v - (b.get(writer) ?? 0)]));
  };
  const held = delta('otaguard_write_lane_held_seconds_sum');
  const writes = delta('otaguard_write_lane_held_seconds_count');
  const waited = delta('otaguard_write_lane_wait_seconds_sum');
  const busy = [...held.values()].reduce((a, b) => a + b, 0);
  const ms = (total: number, n: number): string => ((total / n) * 1000).toFixed(1);
  const parts = [...held].map(([writer, s]) => {
    const n = writes.get(writer) ?? 0;
    const each = n > 0 ? `, each ${ms(s, n)} ms after a wait of ${ms(waited.get(writer) ?? 0, n)}` : '';
    return `${writer} ${((100 * s) / seconds).toFixed(0)}% (${n} writes${each})`;
  });
  return `write lane held ${((100 * busy) / seconds).toFixed(0)}% of the time: ${parts.join('; ')}`;
}

/** What the server measured over a window: mean ms per batch by phase, batches over 50 ms, the write lane's use. */
export interface ServerView {
  phases: string;
  slow: string;
  lane: string;
}

/** The server's view between two /metrics scrapes `seconds` apart. */
function serverView(before: string, after: string, seconds: number): ServerView {
  const a = phaseTotals(after);
  const b = phaseTotals(before);
  const phases = [...a]
    .map(([phase, total]) => {
      const earlier = b.get(phase) ?? { sum: 0, count: 0 };
      const count = total.count - earlier.count;
      return `${phase} ${count > 0 ? (((total.sum - earlier.sum) / count) * 1000).toFixed(1) : '-'}`;
    })
    .join(', ');
  const w0 = within50ms(before);
  const w1 = within50ms(after);
  const answered = w1.count - w0.count;
  const over = answered - (w1.within - w0.within);
  return {
    phases,
    slow: `${over} of ${answered} batches (${((100 * over) / Math.max(1, answered)).toFixed(2)}%) took over 50 ms`,
    lane: laneView(before, after, seconds),
  };
}
