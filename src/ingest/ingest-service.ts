import type { Clock } from '../clock.js';
import type { Pseudonyms } from '../crypto/pseudonyms.js';
import { DomainError, RateLimitedError, TooLargeError, UnavailableError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { ConsentGate } from './consent-gate.js';
import type { DeviceStateStore } from './device-state-store.js';
import type { EventStore } from './event-store.js';
import { activityOf, DAY_MS, RecentDeviceActivity, toStored, utcDay } from './event-folding.js';
import type { EventShapeCheck } from './event-shape.js';
import type { InFlightGate, IngestRateLimits } from './ingest-limits.js';
import type { EventOutcome, IngestObserver, IngestPhase } from './ingest-metrics.js';
import type { StoredEvent } from './stored-event.js';
import type { SuppressionGate } from './suppression-gate.js';

export type RejectCode = Exclude<EventOutcome, 'accepted' | 'duplicate'>;

export interface EventReject {
  index: number;
  code: RejectCode;
  message: string;
  field?: string;
}

export interface IngestResult {
  accepted: number;
  duplicates: number;
  rejected: EventReject[];
}

export interface IngestLimits {
  maxBatchEvents: number;
  maxBatchBytes: number;
  /** Oldest accepted occurredAt, before the server clock (also capped by the app's retention). */
  maxEventAgeMs: number;
  /** Newest accepted occurredAt, after the server clock. */
  maxFutureSkewMs: number;
  /** Reads plus durable write; beyond it the batch is answered 503 and nothing is acknowledged. */
  timeoutMs: number;
}


export const INGEST_LIMITS: Omit<IngestLimits, 'timeoutMs'> = {
  maxBatchEvents: 500,
  maxBatchBytes: 1_048_576,
  maxEventAgeMs: 7 * DAY_MS,
  maxFutureSkewMs: 5 * 60_000,
};

/** Durable event writes (see CoalescingEventWriter). */
export interface EventWriter {
  write(events: readonly StoredEvent[]): Promise<boolean[]>;
}

export interface IngestDeps {
  writer: EventWriter;
  /** For retracting a batch that raced an erasure (see IngestService.retractLateSuppressed). */
  events: Pick<EventStore, 'remove'>;
  devices: DeviceStateStore;
  consents: ConsentGate;
  suppressions: SuppressionGate;
  pseudonyms: Pseudonyms;
  rateLimits: IngestRateLimits;
  gate: InFlightGate;
  checkEvent: EventShapeCheck;
  observer: IngestObserver;
  clock: Clock;
  logger: Logger;
  limits: IngestLimits;
}

interface Candidate {
  index: number;
  event: StoredEvent;
}

/** Waits for both; a rate limit wins over other failures, and the longer Retry-After over the shorter. */
async function budgets(app: Promise<void>, devices: Promise<void>): Promise<void> {
  const failures = (await Promise.allSettled([app, devices])).flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
  const limited = failures.filter((err): err is RateLimitedError => err instanceof RateLimitedError);
  if (limited.length > 0) throw limited.reduce((a, b) => (b.retryAfterSeconds > a.retryAfterSeconds ? b : a));
  if (failures.length > 0) throw failures[0];
}

async function withDeadline<T>(work: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(onTimeout()), ms);
  });
  try {
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Consent-first ingest: validate each event on its own, pseudonymise at the edge, enforce rate limits,
 * suppression and consent (checked for every batch; from the database when a generation token says the
 * answer can have changed: see SuppressionGate and ConsentGate), write durably, then answer.
 */
export class IngestService {
  private readonly recent = new RecentDeviceActivity();

  constructor(private readonly deps: IngestDeps) {}

  async ingest(app: { appId: string; retentionDays: number }, items: readonly unknown[], bodyBytes?: number): Promise<IngestResult> {
    const { limits, gate, observer } = this.deps;
    if (items.length > limits.maxBatchEvents || (bodyBytes ?? 0) > limits.maxBatchBytes) {
      observer.refused('too_large');
      throw new TooLargeError(
        'batch_too_large',
        `A batch may hold at most ${limits.maxBatchEvents} events and ${limits.maxBatchBytes} bytes; split it`,
        { maxEvents: limits.maxBatchEvents, maxBytes: limits.maxBatchBytes },
      );
    }
    if (!gate.tryAcquire()) {
      observer.refused('overloaded');
      throw new UnavailableError('Ingest is at capacity; nothing was stored, retry after Retry-After', 1);
    }
    // The slot is held until the work really ends, even when the caller was already answered 503.
    const work = this.process(app, items).finally(() => gate.release());
    work.catch(() => undefined);
    return withDeadline(work, limits.timeoutMs, () => {
      observer.refused('timeout');
      return new UnavailableError('The batch could not be stored in time (database or Redis slow); nothing was acknowledged, retry', 2);
    });
  }

  private async process(app: { appId: string; retentionDays: number }, items: readonly unknown[]): Promise<IngestResult> {
    const { appId } = app;
    const { clock, limits, rateLimits, observer } = this.deps;
    const now = clock.now();
    let mark = performance.now();
    const lap = (phase: IngestPhase): void => {
      const at = performance.now();
      observer.phase(phase, (at - mark) / 1000);
      mark = at;
    };
    const rejected: EventReject[] = [];
    const reject = (index: number, code: RejectCode, message: string, field?: string): void => {
      rejected.push({ index, code, message, ...(field ? { field } : {}) });
    };
    const maxAgeMs = Math.min(limits.maxEventAgeMs, app.retentionDays * DAY_MS);
    const candidates: Candidate[] = [];
    const perPid = new Map<string, number>();
    // A batch usually comes from one device: one HMAC per distinct device id, not per event.
    const pidOf = new Map<string, string>();
    items.forEach((item, index) => {
      const shape = this.deps.checkEvent(item);
      if (!shape.ok) return reject(index, 'invalid', `${shape.field} ${shape.reason}`, shape.field);
      const { event } = shape;
      const age = now.getTime() - event.occurredAt.getTime();
      if (age > maxAgeMs) {
        return reject(index, 'too_old', `occurredAt is more than ${Math.round(maxAgeMs / 3_600_000)} hours in the past`);
      }
      if (-age > limits.maxFutureSkewMs) {
        return reject(index, 'in_future', `occurredAt is more than ${limits.maxFutureSkewMs / 1000} s ahead of the server clock`);
      }
      let pid = pidOf.get(event.deviceId);
      if (pid === undefined) {
        pid = this.deps.pseudonyms.pid(appId, event.deviceId);
        pidOf.set(event.deviceId, pid);
      }
      perPid.set(pid, (perPid.get(pid) ?? 0) + 1);
      candidates.push({ index, event: toStored(appId, pid, event, now) });
    });
    lap('check');
    // The budgets and the suppression and consent generations in one Redis round trip, before any
    // database read: an abusive device costs no reads.
    const pids = [...perPid.keys()];
    const generations = Promise.all([this.deps.suppressions.token(appId), this.deps.consents.tokens(appId, pids)]);
    await this.observeRefusal(budgets(rateLimits.consumeApp(appId, items.length), rateLimits.consumeDevices(appId, perPid)));
    const [token, consentTokens] = await generations;
    lap('limits');

    // Both checked for every batch, from the database unless the generations say the answer this process
    // read before still holds: a withdrawal or suppression made through another process applies to the
    // very next batch.
    const [suppressed, granted] = await this.storage(
      Promise.all([this.deps.suppressions.suppressed(appId, pids, token), this.deps.consents.granted(appId, pids, consentTokens)]),
    );
    lap('reads');
    const unique: Candidate[] = [];
    const ids = new Set<string>();
    let duplicates = 0;
    for (const candidate of candidates) {
      const { pid, _id } = candidate.event;
      if (suppressed.has(pid)) {
        reject(candidate.index, 'suppressed', 'The device is on the suppression list (erased or objected); its events are not stored');
      } else if (!granted.has(pid)) {
        reject(candidate.index, 'consent_required', 'The device has no granted telemetry consent on record (POST /v1/consent first)');
      } else if (ids.has(_id)) {
        duplicates++;
      } else {
        ids.add(_id);
        unique.push(candidate);
      }
    }

    const events = unique.map((candidate) => candidate.event);
    const activity = activityOf(appId, events, this.recent, utcDay(now));
    const [stored] = await this.storage(Promise.all([this.deps.writer.write(events), this.deps.devices.recordActivity(appId, activity)]));
    lap('write');
    const retracted = await this.storage(this.retractLateSuppressed(appId, unique, token));
    lap('recheck');
    let accepted = 0;
    unique.forEach((candidate, i) => {
      if (retracted.has(candidate.event.pid)) {
        reject(candidate.index, 'suppressed', 'The device was put on the suppression list (erased or objected) while its batch was written; its events were deleted again');
      } else if (stored[i]) accepted++;
      else duplicates++;
    });
    for (const a of activity) if (!retracted.has(a.pid)) this.recent.remember(`${appId}:${a.pid}`, a);

    observer.events('accepted', accepted);
    observer.events('duplicate', duplicates);
    for (const r of rejected) observer.events(r.code, 1);
    rejected.sort((a, b) => a.index - b.index);
    return { accepted, duplicates, rejected };
  }

  /**
   * An erasure may suppress a device after the check above and finish deleting before this batch's write
   * lands, leaving events it never saw. So suppression is checked again once the write is durable (a
   * database read only when the app's suppression generation moved): a device suppressed by now gets this
   * batch's events and its device state deleted again (an erasure that suppresses it later deletes after
   * this write, and finds them itself). Returns the retracted pids.
   */
  private async retractLateSuppressed(appId: string, written: readonly Candidate[], token: string | undefined): Promise<Set<string>> {
    if (written.length === 0) return new Set();
    const late = await this.deps.suppressions.suppressedSince(appId, [...new Set(written.map((c) => c.event.pid))], token);
    if (late.size === 0) return late;
    const ids = written.filter((c) => late.has(c.event.pid)).map((c) => c.event._id);
    await Promise.all([this.deps.events.remove(ids), this.deps.devices.remove(appId, [...late])]);
    this.deps.logger.warn({ appId, devices: late.size, events: ids.length }, 'ingest retracted a batch written after its device was suppressed');
    return late;
  }

  private async observeRefusal(check: Promise<void>): Promise<void> {
    try {
      await check;
    } catch (err) {
      this.deps.observer.refused(err instanceof RateLimitedError ? 'rate_limited' : 'unavailable');
      throw err;
    }
  }

  /** Any database failure on the way to the 202 becomes a 503: retrying is safe, acknowledging is not. */
  private async storage<T>(work: Promise<T>): Promise<T> {
    try {
      return await work;
    } catch (err) {
      if (err instanceof DomainError) throw err;
      // Name and code only: driver messages can quote documents.
      const { name, code } = err as { name?: string; code?: unknown };
      this.deps.logger.warn({ err: { name, code } }, 'ingest storage failed');
      this.deps.observer.refused('unavailable');
      throw new UnavailableError('The events could not be stored; nothing was acknowledged, retry', 2);
    }
  }
}
