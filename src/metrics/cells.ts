import {
  ALL,
  bucketStart,
  cellId,
  GRANULARITIES,
  type CounterCell,
  type Fact,
  type FactField,
  type Granularity,
  type ReadyObservation,
} from './metric-definitions.js';

/** One device to count once in one counter cell's field: the unit of dedupe. */
export interface CellFact {
  cell: CounterCell;
  field: FactField;
  pid: string;
}

/**
 * Where a fact is counted: every granularity, in its channel's row and in the all-channels row (a device
 * that switches channel inside a bucket is still one device there). Platform is a property of the device,
 * so no all-platforms row is needed: platforms sum exactly.
 */
export function cellFacts(f: Fact, granularities: readonly Granularity[] = GRANULARITIES): CellFact[] {
  const out: CellFact[] = [];
  for (const g of granularities) {
    const t = bucketStart(f.at, g);
    for (const channel of f.channel === ALL ? [ALL] : [f.channel, ALL]) {
      out.push({ cell: { appId: f.appId, g, t, channel, platform: f.platform, version: f.version }, field: f.field, pid: f.pid });
    }
  }
  return out;
}

export function cellFactKey(c: CellFact): string {
  return `${cellId(c.cell)}|${c.field}|${c.pid}`;
}

/** The running-version register of one device in one bucket: "latest app_ready wins", ties by version then channel. */
export interface RunningRegister {
  appId: string;
  g: Granularity;
  t: number;
  pid: string;
}

export function registerValue(o: ReadyObservation): { at: number; tag: string } {
  return { at: o.at, tag: `${o.version}|${o.channel}` };
}

/** True when `a` should replace `b` as the device's latest confirmation in the bucket. */
export function isLater(a: { at: number; tag: string }, b: { at: number; tag: string }): boolean {
  return a.at > b.at || (a.at === b.at && a.tag > b.tag);
}

export function runningCells(appId: string, g: Granularity, t: number, platform: string, tag: string): CounterCell[] {
  const sep = tag.indexOf('|');
  const version = tag.slice(0, sep);
  const channel = tag.slice(sep + 1);
  return [
    { appId, g, t, channel, platform, version },
    { appId, g, t, channel: ALL, platform, version },
  ];
}

/**
 * What a running-register update means for the counters. `previous` is the register's answer: null (not
 * newer: nothing changes), '' (the device's first confirmation in the bucket) or the replaced "at|tag".
 */
export function runningTransitions(
  u: { appId: string; g: Granularity; t: number; platform: string; tag: string },
  previous: string | null,
): Array<{ cell: CounterCell; field: 'runIn' | 'runOut' }> {
  if (previous === null) return [];
  const [inChannel, inAll] = runningCells(u.appId, u.g, u.t, u.platform, u.tag) as [CounterCell, CounterCell];
  if (previous === '') return [{ cell: inChannel, field: 'runIn' }, { cell: inAll, field: 'runIn' }];
  const oldTag = previous.slice(previous.indexOf('|') + 1);
  if (oldTag === u.tag) return [];
  const [outChannel, outAll] = runningCells(u.appId, u.g, u.t, u.platform, oldTag) as [CounterCell, CounterCell];
  const out: Array<{ cell: CounterCell; field: 'runIn' | 'runOut' }> = [
    { cell: outChannel, field: 'runOut' },
    { cell: inChannel, field: 'runIn' },
  ];
  // Across channels the device only moved if its version changed.
  if (outAll.version !== inAll.version) out.push({ cell: outAll, field: 'runOut' }, { cell: inAll, field: 'runIn' });
  return out;
}
