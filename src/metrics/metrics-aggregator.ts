import { performance } from 'node:perf_hooks';
import type { Clock } from '../clock.js';
import type { AcceptedEventsListener, StoredEvent } from '../ingest/stored-event.js';
import type { CheckedDevice, UpdateCheckListener } from '../rollouts/update-check-service.js';
import { cellFacts, runningTransitions, type CellFact } from './cells.js';
import { CounterWriter, type CounterWriterDeps } from './counter-writer.js';
import { markerTtlMs, type DeviceMarks, type RegisterUpdate, type WatchedInstall } from './device-marks.js';
import { alikeLatest, countedEvent, directFacts, historyFactsOf, needsHistory, readyObservation, subjectVersion, type CountedEvent } from './event-facts.js';
import { Increments, LocalMarkerCache } from './increments.js';
import type { LaunchHistory } from './launch-history.js';
import { ALL, BUCKET_MS, bucketStart, GRANULARITIES, type CounterField, type Fact, type ReadyObservation } from './metric-definitions.js';

interface Batch {
  events: readonly StoredEvent[];
  at: number;
}

/** The counter writer's deps (the store, its lease, `databaseBusy`) and counting's own. */
export interface AggregatorDeps extends CounterWriterDeps {
  marks: DeviceMarks;
  history: LaunchHistory;
  clock: Clock;
  flushIntervalMs: number;
  maxBufferedEvents?: number;
}

/**
 * Turns accepted events into per-device bucket counts. `onAccepted` only appends to a buffer (ingest's 202
 * never waits for metrics); a timer flushes every `flushIntervalMs`: dedupe against Redis markers shared by
 * every process, then one unordered bulk of positive `$inc` upserts (see CounterWriter). A failed write keeps
 * its increments for the next flush; anything lost (a crash between marker and write) is restored by reconciliation.
 */
export class MetricsAggregator implements AcceptedEventsListener, UpdateCheckListener {
  private buffer: Batch[] = [];
  private buffered = 0;
  private pendingFacts: Fact[] = [];
  private pendingChecks: Fact[] = [];
  private readonly counterWriter: CounterWriter;
  /** Set by close(): the last flush writes whatever the lane is doing. */
  private closing = false;
  private readonly local = new LocalMarkerCache();
  /** Facts whose every counter unit this process already knows claimed, until when (see claimFacts). */
  private readonly settled = new Map<string, number>();
  private readonly dirtyDays = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private chain: Promise<void> = Promise.resolve();
  private inFlight = 0;
  private failing = false;
  private readonly maxBuffered: number;

  constructor(private readonly deps: AggregatorDeps) {
    this.maxBuffered = deps.maxBufferedEvents ?? 200_000;
    this.counterWriter = new CounterWriter(deps);
  }

  get bufferedEvents(): number {
    return this.buffered;
  }

  onAccepted(events: readonly StoredEvent[]): void {
    if (events.length === 0) return;
    if (this.buffered + events.length > this.maxBuffered) {
      this.deps.instruments.droppedEvents.inc(events.length);
      for (const e of events) this.dirtyDays.add(`${e.appId}|${bucketStart(new Date(e.occurredAt).getTime(), 'day')}`);
      return;
    }
    this.buffer.push({ events, at: performance.now() });
    this.buffered += events.length;
  }

  /**
   * An update check: the device is active on the version it runs, in the check's buckets (see `chkActive`
   * in metric-definitions). Only buffered, like events; deduped with them by the next flush.
   */
  onUpdateCheck(check: CheckedDevice): void {
    if (this.pendingChecks.length >= this.maxBuffered) {
      this.deps.instruments.droppedEvents.inc();
      return;
    }
    const { at, ...device } = check;
    this.pendingChecks.push({ ...device, field: 'active', at }, { ...device, version: ALL, field: 'active', at });
  }

  /** Facts decided outside ingest (the 10-minute launch rule); counted by the next flush. */
  record(facts: readonly Fact[]): void {
    this.pendingFacts.push(...facts);
  }

  start(): void {
    if (this.timer) return;
    // A tick while a flush is still running is skipped: the next flush takes everything buffered anyway.
    this.timer = setInterval(() => {
      if (this.inFlight === 0) void this.flush();
    }, this.deps.flushIntervalMs);
    this.timer.unref();
  }

  /** Flushes are serialised; resolves when everything buffered before the call is written (or has failed). */
  flush(): Promise<void> {
    this.inFlight += 1;
    this.chain = this.chain
      .then(() => this.flushOnce())
      .catch((err: unknown) => this.deps.logger.error({ err }, 'metrics flush failed'))
      .finally(() => {
        this.inFlight -= 1;
      });
    return this.chain;
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.closing = true;
    await this.flush();
  }

  private async flushOnce(): Promise<void> {
    const batches = this.buffer;
    const facts = this.pendingFacts;
    const checks = this.pendingChecks;
    this.buffer = [];
    this.buffered = 0;
    this.pendingFacts = [];
    this.pendingChecks = [];
    const { instruments, logger } = this.deps;
    const started = batches.length > 0 ? Math.min(...batches.map((b) => b.at)) : undefined;
    try {
      if (batches.length > 0 || facts.length > 0 || checks.length > 0) await this.count(batches, facts, checks);
    } catch (err) {
      // Redis or the event history failed before anything was counted: keep the events for the next tick.
      this.buffer = [...batches, ...this.buffer];
      this.buffered += batches.reduce((n, b) => n + b.events.length, 0);
      this.pendingFacts = [...facts, ...this.pendingFacts];
      this.pendingChecks = [...checks, ...this.pendingChecks];
      instruments.flushes.inc({ result: 'error' });
      // Once per outage, not four times a second.
      if (!this.failing) logger.warn({ err: (err as Error).message }, 'metrics flush could not dedupe; retrying every tick');
      this.failing = true;
      return;
    }
    if (this.failing) logger.info('metrics flush recovered');
    this.failing = false;
    await this.counterWriter.write(started, this.closing);
  }

  private async count(batches: readonly Batch[], extra: readonly Fact[], checks: readonly Fact[]): Promise<void> {
    const { marks, clock, instruments } = this.deps;
    const now = clock.now().getTime();
    const events = batches.flatMap((b) => b.events.map(countedEvent));
    const facts: Fact[] = [...extra];
    const ready: ReadyObservation[] = [];
    const installs: WatchedInstall[] = [];
    for (const e of alikeLatest(events)) {
      facts.push(...directFacts(e));
      const obs = readyObservation(e);
      if (obs) ready.push(obs);
    }
    for (const e of events) {
      if (e.type === 'installed') {
        // A pid prefix is all the markers and the launch history use; Redis never needs more of it.
        installs.push({ appId: e.appId, pid: e.pid.slice(0, 24), version: e.version, channel: e.channel, platform: e.platform, installedAt: e.at });
      }
    }
    await this.deps.history.append(events);
    facts.push(...(await this.classifyWithHistory(events.filter(needsHistory), now)));

    // Counted straight into the counter writer's pending increments: if a later step fails and the events are retried,
    // what the markers already claimed is not lost (the retry finds the markers set and adds nothing).
    // Update checks last: within a flush, a device's event claims the shared `active` marker first.
    const increments = this.counterWriter.pending;
    await this.claimFacts([...facts, ...checks.map((f) => ({ ...f, countAs: 'chkActive' as const }))], now, increments);
    await this.confirmReady(ready, now, increments);
    await marks.watchInstalls(installs);
    if (this.dirtyDays.size > 0) {
      await marks.markDirty(this.dirtyDays);
      this.dirtyDays.clear();
    }
    instruments.countedEvents.inc(events.length);
  }

  /** Crashes and rollbacks decide launches: read each device-version's recent launch events (this batch's included). */
  private async classifyWithHistory(events: readonly CountedEvent[], now: number): Promise<Fact[]> {
    const histories = await this.deps.history.read(events.map((e) => ({ appId: e.appId, version: subjectVersion(e), pid: e.pid })));
    return historyFactsOf(events, histories, now);
  }

  private live(appId: string, g: CellFact['cell']['g'], t: number, at: number, now: number): boolean {
    if (markerTtlMs(g, t, now) > 0) return true;
    this.deps.instruments.lateFacts.inc();
    this.dirtyDays.add(`${appId}|${bucketStart(at, 'day')}`);
    return false;
  }

  /** `countAs`: the counter a claimed unit increments when it is not the fact's own field (update checks). */
  private async claimFacts(facts: ReadonlyArray<Fact & { countAs?: CounterField }>, now: number, increments: Increments): Promise<void> {
    const { marks } = this.deps;
    const toClaim: CellFact[] = [];
    const countAs: CounterField[] = [];
    const markers: Array<{ key: string; field: string }> = [];
    const settling: Array<[string, number]> = [];
    const seenFacts = new Set<string>();
    const seenUnits = new Set<string>();
    for (const f of facts) {
      // A device sends many events per minute; the same fact in the same minute expands to the same units.
      const minute = Math.floor(f.at / BUCKET_MS.minute);
      const factKey = `${f.appId}|${f.pid}|${f.version}|${f.channel}|${f.platform}|${f.field}|${minute}`;
      if (seenFacts.has(factKey)) continue;
      seenFacts.add(factKey);
      // Settled by an earlier flush: every unit is in the local marker cache, so expanding it finds nothing.
      if ((this.settled.get(factKey) ?? 0) > now) continue;
      // Settled until its first unit's marker expires, and no longer than a minute after its own minute ends
      // (by then its device's events carry another minute), which bounds the map.
      let until = (minute + 2) * BUCKET_MS.minute;
      let allLive = true;
      for (const unit of cellFacts(f)) {
        if (!this.live(f.appId, unit.cell.g, unit.cell.t, f.at, now)) {
          allLive = false;
          continue;
        }
        until = Math.min(until, now + markerTtlMs(unit.cell.g, unit.cell.t, now));
        const marker = marks.markerOf(unit);
        const id = `${marker.key} ${marker.field}`;
        if (seenUnits.has(id) || this.local.has(marker.key, marker.field, now)) continue;
        seenUnits.add(id);
        toClaim.push(unit);
        countAs.push(f.countAs ?? unit.field);
        markers.push(marker);
      }
      // A fact with a unit past its horizon is expanded every time: each one counts as late.
      if (allLive) settling.push([factKey, until]);
    }
    const claimed = await marks.claim(toClaim, now);
    toClaim.forEach((unit, i) => {
      const marker = markers[i]!;
      this.local.add(marker.key, marker.field, now + markerTtlMs(unit.cell.g, unit.cell.t, now));
      if (claimed[i]) increments.add(unit.cell, countAs[i]!);
    });
    this.settle(settling, now);
  }

  /** Records facts as settled, dropping the expired ones first (insertion order is nearly expiry order). */
  private settle(facts: ReadonlyArray<[string, number]>, now: number): void {
    for (const [key, until] of this.settled) {
      if (until > now) break;
      this.settled.delete(key);
    }
    if (this.settled.size > 500_000) this.settled.clear();
    for (const [key, until] of facts) this.settled.set(key, until);
  }

  /** Adoption numerator: a device counts for the version of its latest app_ready in the bucket. */
  private async confirmReady(ready: readonly ReadyObservation[], now: number, increments: Increments): Promise<void> {
    const latest = new Map<string, RegisterUpdate & { platform: string }>();
    for (const o of ready) {
      for (const g of GRANULARITIES) {
        const t = bucketStart(o.at, g);
        if (!this.live(o.appId, g, t, o.at, now)) continue;
        const key = `${o.appId}|${g}|${t}|${o.pid}`;
        const tag = `${o.version}|${o.channel}`;
        const current = latest.get(key);
        if (!current || o.at > current.at || (o.at === current.at && tag > current.tag)) {
          latest.set(key, { appId: o.appId, g, t, pid: o.pid, at: o.at, tag, platform: o.platform });
        }
      }
    }
    const updates = [...latest.values()];
    const results = await this.deps.marks.confirm(updates, now);
    updates.forEach((u, i) => {
      for (const { cell, field } of runningTransitions(u, results[i] ?? null)) increments.add(cell, field);
    });
  }
}
