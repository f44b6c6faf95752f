import type { StoredEvent } from '../ingest/stored-event.js';
import {
  installsDecidedBy,
  latestInstallBefore,
  launchVerdict,
  rolledBackFrom,
  type LaunchVerdict,
  ROLLBACK_LOOKBACK_MS,
  type VersionHistoryEvent,
} from './launch-rules.js';
import { ALL, BUCKET_MS, type Fact, type FactField, type ReadyObservation } from './metric-definitions.js';

/** The fields of a stored event that counting reads. */
export type CountedEvent = Pick<StoredEvent, 'appId' | 'pid' | 'type' | 'version' | 'channel' | 'platform' | 'fromVersion'> & {
  /** occurredAt in epoch ms. */
  at: number;
};

export function countedEvent(
  e: Pick<StoredEvent, 'appId' | 'pid' | 'type' | 'version' | 'channel' | 'platform' | 'fromVersion' | 'occurredAt'>,
): CountedEvent {
  return {
    appId: e.appId,
    pid: e.pid,
    type: e.type,
    version: e.version,
    channel: e.channel,
    platform: e.platform,
    ...(e.fromVersion !== undefined ? { fromVersion: e.fromVersion } : {}),
    at: new Date(e.occurredAt).getTime(),
  };
}

const DIRECT: Readonly<Record<CountedEvent['type'], readonly FactField[]>> = {
  download_started: ['dlExp'],
  download_completed: ['dlExp'],
  download_failed: ['dlExp', 'dlFail'],
  installed: ['inExp', 'laExp'],
  install_failed: ['inExp', 'inFail'],
  app_ready: ['crExp'],
  crash: ['crExp', 'crash'],
  rolled_back: [],
};

function fact(e: CountedEvent, field: FactField, version: string, at: number): Fact {
  return { appId: e.appId, pid: e.pid, version, channel: e.channel, platform: e.platform, field, at };
}

/** Facts an event proves on its own, in the bucket of its occurredAt. */
export function directFacts(e: CountedEvent): Fact[] {
  const out = [fact(e, 'active', e.version, e.at), fact(e, 'active', ALL, e.at)];
  for (const field of DIRECT[e.type]) out.push(fact(e, field, e.version, e.at));
  return out;
}

/**
 * The latest event of each group alike in all that `directFacts` and `readyObservation` read: device, type,
 * version, channel, platform and minute. A device sends many events a minute; the rest of its group prove
 * the same facts in the same buckets (the finest is a minute), and the adoption register of a bucket keeps
 * only its latest app_ready. So counting expands one event per group instead of every event.
 */
export function alikeLatest(events: readonly CountedEvent[]): CountedEvent[] {
  const latest = new Map<string, CountedEvent>();
  for (const e of events) {
    const key = `${e.appId}|${e.pid}|${e.type}|${e.version}|${e.channel}|${e.platform}|${Math.floor(e.at / BUCKET_MS.minute)}`;
    const seen = latest.get(key);
    if (!seen || e.at > seen.at) latest.set(key, e);
  }
  return [...latest.values()];
}

export function readyObservation(e: CountedEvent): ReadyObservation | undefined {
  if (e.type !== 'app_ready') return undefined;
  return { appId: e.appId, pid: e.pid, version: e.version, channel: e.channel, platform: e.platform, at: e.at };
}

/** Events that need the device's recent history of the version to be classified. */
export function needsHistory(e: CountedEvent): boolean {
  return e.type === 'crash' || e.type === 'rolled_back';
}

/** The version whose history classifies `e`. */
export function subjectVersion(e: CountedEvent): string {
  return e.type === 'rolled_back' ? rolledBackFrom(e) : e.version;
}

/**
 * Facts a `crash` or `rolled_back` proves given the device's history of that version (which includes `e`):
 * launch failures of installs it decides, and for a rollback the rollback count — in the bucket of the
 * install it rolled back, or of the rollback itself (joining launch exposure there) when no install was seen.
 */
export function historyFacts(
  e: CountedEvent,
  history: readonly VersionHistoryEvent[],
  now: number,
  verdictOf: (installedAt: number) => LaunchVerdict = (installedAt) => launchVerdict(installedAt, history, now),
): Fact[] {
  const version = subjectVersion(e);
  const out: Fact[] = [];
  for (const installedAt of installsDecidedBy(history, e.at)) {
    if (verdictOf(installedAt) === 'failed') out.push(fact(e, 'laFail', version, installedAt));
  }
  if (e.type === 'rolled_back') {
    const installedAt = latestInstallBefore(history, e.at, ROLLBACK_LOOKBACK_MS);
    if (installedAt !== undefined) {
      out.push(fact(e, 'rb', version, installedAt));
    } else {
      out.push(fact(e, 'rb', version, e.at), fact(e, 'laExp', version, e.at));
    }
  }
  return out;
}

/**
 * `historyFacts` of many crashes and rollbacks, each given its device-version's history. Events given the
 * same history array (LaunchHistory.read returns one per key) judge each install there once, and each
 * failed launch is reported once however many of them decided it: a device's batch of crashes would
 * otherwise re-judge every recent install per crash.
 */
export function historyFactsOf(events: readonly CountedEvent[], histories: readonly (readonly VersionHistoryEvent[])[], now: number): Fact[] {
  const judged = new Map<readonly VersionHistoryEvent[], { verdicts: Map<number, LaunchVerdict>; failures: Set<string> }>();
  const out: Fact[] = [];
  events.forEach((e, i) => {
    const history = histories[i] ?? [];
    let seen = judged.get(history);
    if (!seen) judged.set(history, (seen = { verdicts: new Map(), failures: new Set() }));
    const { verdicts, failures } = seen;
    const verdictOf = (installedAt: number): LaunchVerdict => {
      let verdict = verdicts.get(installedAt);
      if (verdict === undefined) verdicts.set(installedAt, (verdict = launchVerdict(installedAt, history, now)));
      return verdict;
    };
    for (const f of historyFacts(e, history, now, verdictOf)) {
      if (f.field === 'laFail') {
        const failure = `${f.channel}|${f.platform}|${f.at}`;
        if (failures.has(failure)) continue;
        failures.add(failure);
      }
      out.push(f);
    }
  });
  return out;
}

/** Launch-failure facts of one install once its verdict is known (the scheduled 10-minute rule). */
export function installFacts(
  install: Omit<Fact, 'field' | 'at'> & { installedAt: number },
  history: readonly VersionHistoryEvent[],
  now: number,
): Fact[] | 'pending' {
  const verdict = launchVerdict(install.installedAt, history, now);
  if (verdict === 'pending') return 'pending';
  if (verdict === 'ok') return [];
  const { installedAt, ...rest } = install;
  return [{ ...rest, field: 'laFail', at: installedAt }];
}
