/**
 * The ingest protocol's shared parts (DESIGN.md, Performance protocol), used by bench:ingest (the service)
 * and bench:ingest:b1 (B1 under the same protocol): its durations, the mirrored ladder of connection counts
 * and the knee read off it, and the drain check.
 */
import type { Collection } from 'mongodb';
import { eventIdOf, type StoredEvent } from '../src/ingest/stored-event.js';
import type { LoadResult } from './ingest-load.js';

const CONNECTION_STEPS = [1, 2, 4, 8, 16, 32, 64];
const STEP_SECONDS = 5;
// The knee is measured on a table already near the size the open-loop levels run on: an insert into a
// fresh, small collection is cheaper (its index pages are fewer and cached), and a knee found there is
// more than the service sustains once the table holds a million events.
export const WARM_UP_SECONDS = Number(process.env.BENCH_WARM_UP_SECONDS ?? 25);
// Long enough that p99 rests on several slow spells, not on whether one happened to fall in the window:
// at 10 s per level, one spell could decide it.
export const OPEN_LOOP_SECONDS = 30;

export const round = (n: number, digits = 0): number => Number(n.toFixed(digits));

/** One closed-loop or open-loop result as both benches print it. */
export function describe(label: string, r: LoadResult): string {
  return `${label}: ${round(r.acceptedPerSecond)} events/s (${round(r.requestsPerSecond)} req/s) p50=${r.p50}ms p99=${r.p99}ms mean=${round(r.mean, 1)}ms non2xx=${r.non2xx} errors=${r.errors}`;
}

/** Two runs of one closed-loop step: throughputs and latencies averaged (p50/p99 as the mean of the two). */
function meanOf(a: LoadResult, b: LoadResult): LoadResult {
  const mean = (key: keyof LoadResult): number => (a[key] + b[key]) / 2;
  return {
    requestsPerSecond: mean('requestsPerSecond'),
    accepted: a.accepted + b.accepted,
    acceptedPerSecond: mean('acceptedPerSecond'),
    p50: mean('p50'),
    p99: mean('p99'),
    mean: mean('mean'),
    non2xx: a.non2xx + b.non2xx,
    errors: a.errors + b.errors,
  };
}

export interface Step {
  connections: number;
  result: LoadResult;
}

export interface Knee {
  /** Each step as the mean of its two runs, by connection count. */
  steps: Step[];
  /** The point of diminishing returns: the first step whose doubling of connections adds less than 5%. */
  knee: Step;
  /** The highest throughput seen. */
  nominal: number;
  /** The step of highest power, throughput ÷ mean latency (Kleinrock). */
  powerPeak: Step;
}

/**
 * Closed loop with more and more connections until throughput stops growing (< 5% twice in a row, from 16
 * on), then the same steps again in reverse order, each step counting as the mean of its two runs. The table
 * grows by about a million events over the ladder and inserts slow down as it grows, so one ascending pass
 * would measure the larger connection counts on a slower table; the mirrored order cancels that drift (an
 * ABBA design) and the second run halves the noise of a short step.
 */
export async function closedLoopKnee(
  run: (label: string, connections: number, seconds: number) => Promise<LoadResult>,
  log: (line: string) => void,
): Promise<Knee> {
  const ascending: Step[] = [];
  let highest = 0;
  let flat = 0;
  for (const connections of CONNECTION_STEPS) {
    const result = await run(`closed loop, ${connections} connections`, connections, STEP_SECONDS);
    ascending.push({ result, connections });
    const grew = result.acceptedPerSecond > highest * 1.05;
    highest = Math.max(highest, result.acceptedPerSecond);
    flat = grew ? 0 : flat + 1;
    if (flat >= 2 && connections >= 16) break; // below 16 a flat step is usually noise: the database still has idle capacity
  }
  const steps: Step[] = [];
  for (const { connections, result: first } of [...ascending].reverse()) {
    const second = await run(`closed loop, ${connections} connections (descending)`, connections, STEP_SECONDS);
    steps.unshift({ connections, result: meanOf(first, second) });
  }
  for (const { connections, result } of steps) log(`closed loop, ${connections} connections, mean of both runs: ${round(result.acceptedPerSecond)} events/s, mean latency ${round(result.mean, 1)} ms`);
  const best = steps.reduce((a, b) => (b.result.acceptedPerSecond > a.result.acceptedPerSecond ? b : a));
  const knee = steps.find((step, i) => i + 1 < steps.length && steps[i + 1]!.result.acceptedPerSecond < step.result.acceptedPerSecond * 1.05) ?? steps.at(-1)!;
  const power = (r: LoadResult): number => r.acceptedPerSecond / Math.max(r.mean, 0.1);
  const powerPeak = steps.reduce((a, b) => (power(b.result) > power(a.result) ? b : a));
  log(
    `knee (doubling the connections adds < 5%): ${round(knee.result.acceptedPerSecond)} events/s at ${knee.connections} connections; ` +
      `nominal capacity (highest throughput): ${round(best.result.acceptedPerSecond)} events/s; highest power: ${round(powerPeak.result.acceptedPerSecond)} events/s at ${powerPeak.connections}`,
  );
  return { steps, knee, nominal: best.result.acceptedPerSecond, powerPeak };
}

/**
 * The drain check, once the server has finished the requests a run abandoned: every event answered 202 is
 * stored under `appId`, and the answers reported each of them accepted exactly once (`accepted`, their
 * sum). Logs the outcome; returns whether it held.
 */
export async function drained(
  events: Collection<Pick<StoredEvent, '_id' | 'appId'>>,
  appId: string,
  acknowledged: ReadonlySet<string>,
  accepted: number,
  log: (line: string) => void,
): Promise<boolean> {
  const stored = new Set((await events.find({ appId }, { projection: { _id: 1, appId: 1 } }).toArray()).map(eventIdOf));
  const lost = [...acknowledged].filter((id) => !stored.has(id)).length;
  const ok = lost === 0 && accepted === acknowledged.size;
  log(
    `drained: ${acknowledged.size} events acknowledged (202), ${accepted} of them reported accepted, ${stored.size} stored ` +
      `(${stored.size - acknowledged.size + lost} from batches cut off unanswered at the end of a run); lost=${lost} duplicated=${acknowledged.size - accepted} -> ${ok ? 'OK' : 'FAILED'}`,
  );
  return ok;
}
