import { Agent, request } from 'node:http';
import { createRequire } from 'node:module';
import { v7 as uuidv7 } from 'uuid';

/** The slice of autocannon's API the benchmark uses (the package ships no types). */
interface AutocannonRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string;
  setupRequest?: (req: AutocannonRequest, context: Record<string, unknown>) => AutocannonRequest;
  onResponse?: (status: number, body: string, context: Record<string, unknown>) => void;
}
interface AutocannonResult {
  requests: { average: number; total: number };
  latency: { p50: number; p99: number; average: number };
  duration: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  '2xx': number;
}
type Autocannon = (options: {
  url: string;
  connections: number;
  duration: number;
  pipelining?: number;
  overallRate?: number;
  timeout?: number;
  requests: AutocannonRequest[];
}) => Promise<AutocannonResult>;

const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;

const TYPES = ['download_started', 'download_completed', 'installed', 'app_ready', 'app_ready', 'download_started', 'download_completed', 'installed', 'app_ready', 'crash'];

/**
 * A batch of `size` fresh events from `devicesPerBatch` devices picked from `devices`: JSON body and eventIds
 * (UUIDv7, time-ordered, as the README advises SDKs to generate them).
 */
export function batchBody(devices: readonly string[], size: number, devicesPerBatch: number): { body: string; ids: string[] } {
  const start = Math.floor(Math.random() * devices.length);
  const now = Date.now();
  const events = Array.from({ length: size }, (_, i) => {
    const device = (start + (i % devicesPerBatch)) % devices.length;
    return {
      eventId: uuidv7(),
      deviceId: devices[device],
      type: TYPES[i % TYPES.length],
      version: '2.4.1',
      channel: 'production',
      platform: device % 3 === 0 ? 'ios' : 'android', // a device keeps its platform
      occurredAt: new Date(now - 1000 - i).toISOString(),
      nativeVersion: '5.2.0',
      osVersion: '17.4',
    };
  });
  return { body: JSON.stringify({ events }), ids: events.map((e) => e.eventId) };
}

export interface LoadResult {
  requestsPerSecond: number;
  /** Events the server said it stored (sum of `accepted`). */
  accepted: number;
  acceptedPerSecond: number;
  p50: number;
  p99: number;
  /** Mean latency (ms). */
  mean: number;
  non2xx: number;
  errors: number;
}

/**
 * One autocannon run; every request carries a fresh batch so nothing is a duplicate. `acknowledged`
 * collects the eventIds of every batch answered 202 (one request at a time per connection, so the
 * connection's context still holds the batch when its response arrives).
 */
export async function load(options: {
  url: string;
  ingestKey?: string;
  connections: number;
  seconds: number;
  overallRate?: number;
  body: () => { body: string; ids: string[] };
  acknowledged?: Set<string>;
}): Promise<LoadResult> {
  let accepted = 0;
  const result = await autocannon({
    url: options.url,
    connections: options.connections,
    duration: options.seconds,
    timeout: 10,
    ...(options.overallRate ? { overallRate: options.overallRate } : {}),
    requests: [
      {
        method: 'POST',
        path: '/v1/events',
        headers: { 'content-type': 'application/json', ...(options.ingestKey ? { authorization: `Bearer ${options.ingestKey}` } : {}) },
        setupRequest: (req, context) => {
          const batch = options.body();
          context.ids = batch.ids;
          return { ...req, body: batch.body };
        },
        onResponse: (status, body, context) => {
          if (status !== 202) return;
          accepted += (JSON.parse(body) as { accepted: number }).accepted;
          for (const id of (context.ids as string[] | undefined) ?? []) options.acknowledged?.add(id);
        },
      },
    ],
  });
  return {
    requestsPerSecond: result['2xx'] / result.duration,
    accepted,
    acceptedPerSecond: accepted / result.duration,
    p50: result.latency.p50,
    p99: result.latency.p99,
    mean: result.latency.average,
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
  };
}

/**
 * Open loop at a fixed rate: request k leaves at t0 + k/rate whatever happened to the earlier ones, and
 * its latency counts from that planned time (so a stalled server cannot hide its queue: no coordinated
 * omission). autocannon's `overallRate` is a per-connection budget refilled each second, which sends
 * every connection's share back to back at each second boundary: bursts, not a rate.
 */
export async function openLoop(options: {
  url: string;
  ingestKey: string;
  rate: number;
  seconds: number;
  body: () => { body: string; ids: string[] };
  acknowledged?: Set<string>;
}): Promise<LoadResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: 512 });
  const target = new URL('/v1/events', options.url);
  const latencies: number[] = [];
  let accepted = 0;
  let non2xx = 0;
  let errors = 0;
  // Bodies are made before the clock starts and acknowledged ids are collected after it stops, so the
  // generator's own work and garbage stay out of the latencies it measures.
  const total = Math.round(options.rate * options.seconds);
  const batches = Array.from({ length: total }, () => options.body());
  const acknowledgedBatches: number[] = [];
  const send = (planned: number, k: number): Promise<void> =>
    new Promise((resolve) => {
      const batch = batches[k]!;
      const req = request(
        target,
        { method: 'POST', agent, headers: { 'content-type': 'application/json', authorization: `Bearer ${options.ingestKey}` } },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () => {
            latencies.push(performance.now() - planned);
            if (res.statusCode === 202) {
              accepted += (JSON.parse(Buffer.concat(chunks).toString()) as { accepted: number }).accepted;
              acknowledgedBatches.push(k);
            } else non2xx++;
            resolve();
          });
        },
      );
      req.on('error', () => {
        errors++;
        resolve();
      });
      req.end(batch.body);
    });
  const duration = await atFixedRate(options.rate, total, send);
  for (const k of acknowledgedBatches) for (const id of batches[k]!.ids) options.acknowledged?.add(id);
  agent.destroy();
  return {
    requestsPerSecond: (total - non2xx - errors) / duration,
    accepted,
    acceptedPerSecond: accepted / duration,
    ...latencySummary(latencies),
    non2xx,
    errors,
  };
}

/**
 * The open loop's schedule: `fire(planned, k)` for k = 0 … total - 1 at t0 + k/rate, whatever happened to
 * the earlier ones. Resolves once every fired promise has settled, with the run's duration in seconds.
 */
export async function atFixedRate(rate: number, total: number, fire: (planned: number, k: number) => Promise<void>): Promise<number> {
  const started = performance.now();
  const inFlight: Promise<void>[] = [];
  for (let k = 0; k < total; k++) {
    const planned = started + (k * 1000) / rate;
    const wait = planned - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    inFlight.push(fire(planned, k));
  }
  await Promise.all(inFlight);
  return (performance.now() - started) / 1000;
}

/** p50, p99 (rounded ms) and mean of a run's latencies. */
export function latencySummary(latencies: readonly number[]): { p50: number; p99: number; mean: number } {
  const sorted = [...latencies].sort((a, b) => a - b);
  const pct = (p: number): number => Math.round(sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0);
  return { p50: pct(50), p99: pct(99), mean: sorted.reduce((sum, l) => sum + l, 0) / Math.max(1, sorted.length) };
}
