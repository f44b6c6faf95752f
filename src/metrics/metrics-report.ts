import type { CounterRow } from './counter-store.js';
import { ALL, COUNTER_FIELDS, type CounterField } from './metric-definitions.js';

export const FAILURE_METRICS = ['download', 'install', 'launch', 'crash', 'rollback'] as const;
export type FailureMetric = (typeof FAILURE_METRICS)[number];

/** Which counter fields are each metric's failing and exposed devices. */
const FIELDS: Readonly<Record<FailureMetric, { failing: CounterField; exposed: CounterField }>> = {
  download: { failing: 'dlFail', exposed: 'dlExp' },
  install: { failing: 'inFail', exposed: 'inExp' },
  launch: { failing: 'laFail', exposed: 'laExp' },
  crash: { failing: 'crash', exposed: 'crExp' },
  rollback: { failing: 'rb', exposed: 'laExp' },
};

export interface VersionReport {
  version: string;
  activeDevices: number;
  runningDevices: number;
  adoption: number | null;
  exposedDevices: Record<Exclude<FailureMetric, 'rollback'>, number>;
  failingDevices: Record<FailureMetric, number>;
  rates: Record<FailureMetric, number | null>;
}

export interface SeriesPoint {
  start: string;
  activeDevices: number;
  versions: VersionReport[];
}

type Totals = Record<CounterField | 'running', number>;

function zero(): Totals {
  return { ...(Object.fromEntries(COUNTER_FIELDS.map((f) => [f, 0])) as Record<CounterField, number>), running: 0 };
}

/** Sums rows per version. Running devices are clamped per cell: runOut can land a flush before its runIn. */
function totalsByVersion(rows: readonly CounterRow[]): Map<string, Totals> {
  const out = new Map<string, Totals>();
  for (const { cell, values } of rows) {
    const totals = out.get(cell.version) ?? zero();
    for (const f of COUNTER_FIELDS) totals[f] += values[f] ?? 0;
    totals.running += Math.max(0, (values.runIn ?? 0) - (values.runOut ?? 0));
    out.set(cell.version, totals);
  }
  return out;
}

/** Devices with an event or an update check: the two counters never hold the same device of a cell. */
const active = (t: Totals): number => t.active + t.chkActive;

const ratio = (n: number, d: number): number | null => (d > 0 ? n / d : null);

function versionReport(version: string, t: Totals, allActive: number): VersionReport {
  const failing = Object.fromEntries(FAILURE_METRICS.map((m) => [m, t[FIELDS[m].failing]])) as VersionReport['failingDevices'];
  const rates = Object.fromEntries(
    FAILURE_METRICS.map((m) => [m, ratio(t[FIELDS[m].failing], t[FIELDS[m].exposed])]),
  ) as VersionReport['rates'];
  return {
    version,
    activeDevices: active(t),
    runningDevices: t.running,
    adoption: ratio(t.running, allActive),
    exposedDevices: { download: t.dlExp, install: t.inExp, launch: t.laExp, crash: t.crExp },
    failingDevices: failing,
    rates,
  };
}

/** Per-version reports of a set of rows (one window or one bucket), most active first. */
export function summarize(rows: readonly CounterRow[], onlyVersion?: string): { activeDevices: number; versions: VersionReport[] } {
  const totals = totalsByVersion(rows);
  const all = totals.get(ALL);
  const allActive = all ? active(all) : 0;
  const versions = [...totals.entries()]
    .filter(([version]) => version !== ALL && (onlyVersion === undefined || version === onlyVersion))
    .map(([version, t]) => versionReport(version, t, allActive))
    .sort((a, b) => b.activeDevices - a.activeDevices || a.version.localeCompare(b.version));
  return { activeDevices: allActive, versions };
}

/** One point per bucket that has any device, oldest first. */
export function series(rows: readonly CounterRow[], onlyVersion?: string): SeriesPoint[] {
  const byBucket = new Map<number, CounterRow[]>();
  for (const row of rows) {
    const list = byBucket.get(row.cell.t) ?? [];
    list.push(row);
    byBucket.set(row.cell.t, list);
  }
  return [...byBucket.entries()]
    .sort(([a], [b]) => a - b)
    .map(([t, list]) => ({ start: new Date(t).toISOString(), ...summarize(list, onlyVersion) }));
}
