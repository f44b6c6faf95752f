import { randomUUID } from 'node:crypto';
import type { Clock } from '../clock.js';
import type { Pseudonyms } from '../crypto/pseudonyms.js';
import { ConflictError, DomainError, UnavailableError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { ConsentLedger, ConsentRecord, ConsentState, ConsentStateStore } from './consent-store.js';
import { consentScope } from './consent-gate.js';
import type { Generations } from './generations.js';
import type { IngestRateLimits } from './ingest-limits.js';
import type { SuppressionStore } from './suppression-store.js';

export interface ConsentDecision {
  deviceId: string;
  granted: boolean;
  purposes: readonly string[];
  policyVersion: string;
  source: string;
}

export interface ConsentReceipt {
  receiptId: string;
  granted: boolean;
  purposes: string[];
  policyVersion: string;
  source: string;
  recordedAt: Date;
}

export interface ConsentDeps {
  ledger: ConsentLedger;
  states: ConsentStateStore;
  suppressions: SuppressionStore;
  pseudonyms: Pseudonyms;
  rateLimits: IngestRateLimits;
  /** Advanced after each settled decision, before the answer (see ConsentGate). */
  generations: Generations;
  clock: Clock;
  logger: Logger;
}

const MAX_ROUNDS = 50;

/** The state after folding `entries` (consecutive, ascending seq) into `state`. */
function fold(state: ConsentState, entries: readonly ConsentRecord[]): ConsentState {
  const purposes = { ...state.purposes };
  let { seq } = state;
  for (const { granted, seq: entrySeq, at, policyVersion, source, receiptId, purposes: listed } of entries) {
    for (const purpose of listed) purposes[purpose] = { granted, seq: entrySeq, at, policyVersion, source, receiptId };
    seq = entrySeq;
  }
  return { ...state, seq, purposes };
}

/**
 * Records consent decisions. The ledger is the truth and is append-only; each device's decisions are
 * numbered 1, 2, 3… by inserting `_id = app:pid:seq` (a unique key: atomic on MongoDB and FerretDB
 * alike). The current state is the ledger folded up to a watermark `seq`, and every writer keeps folding
 * until it finds no entry past the watermark. On MongoDB the state write itself never replaces a newer
 * state. FerretDB rewrites whole documents without compare-and-swap, so there a slow writer's stale
 * state can land over a newer one for a moment; that writer's next round finds the newer entries and
 * folds them back in before it answers. Either way the state ends at the newest ledger entry.
 */
export class ConsentService {
  constructor(private readonly deps: ConsentDeps) {}

  async record(appId: string, decision: ConsentDecision): Promise<ConsentReceipt> {
    const { ledger, states, suppressions, pseudonyms, rateLimits, clock } = this.deps;
    const pid = pseudonyms.pid(appId, decision.deviceId);
    await rateLimits.consumeApp(appId, 1);
    await rateLimits.consumeDevices(appId, new Map([[pid, 1]]));
    const purposes = [...new Set(decision.purposes)];
    const { granted, policyVersion, source } = decision;
    return this.storage(async () => {
      if ((await suppressions.suppressed(appId, [pid])).has(pid)) {
        throw new ConflictError(
          'suppressed',
          'This device is on the suppression list (its data was erased or it objected); no telemetry is collected and nothing was recorded',
        );
      }
      const at = clock.now();
      const receiptId = randomUUID();
      let seq = ((await states.get(appId, pid))?.seq ?? 0) + 1;
      for (let round = 0; ; round++, seq++) {
        if (round >= MAX_ROUNDS) throw new Error('consent sequence contention');
        if (await ledger.append({ receiptId, appId, pid, seq, granted, purposes, policyVersion, source, at })) break;
      }
      await this.catchUp(appId, pid);
      // Before answering: from here on every process's next batch of this device reads the new state.
      await this.deps.generations.advance(consentScope(appId, pid));
      return { receiptId, granted, purposes, policyVersion, source, recordedAt: at };
    });
  }

  /** Folds ledger entries past the state's watermark into the state until there are none left. */
  private async catchUp(appId: string, pid: string): Promise<void> {
    const { ledger, states } = this.deps;
    for (let round = 0; round < MAX_ROUNDS; round++) {
      const state: ConsentState = (await states.get(appId, pid)) ?? { appId, pid, seq: 0, purposes: {} };
      const entries: ConsentRecord[] = [];
      for (let next = await ledger.entry(appId, pid, state.seq + 1); next; next = await ledger.entry(appId, pid, next.seq + 1)) {
        entries.push(next);
      }
      if (entries.length === 0) return;
      await states.put(fold(state, entries));
    }
    throw new Error('consent state did not settle');
  }

  private async storage<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (err) {
      if (err instanceof DomainError) throw err;
      const { name, code, message } = err as { name?: string; code?: unknown; message?: string };
      this.deps.logger.warn({ err: { name, code, message: code === undefined ? message : undefined } }, 'consent storage failed');
      throw new UnavailableError('The consent decision could not be recorded; retry', 2);
    }
  }
}
