import type { Connection } from 'mongoose';
import { rawCollection } from '../connections.js';
import { deleteAllMatching, deleteIdRanges, matchingIds } from './bulk-delete.js';
import type { Clock } from '../clock.js';
import type { SuppressionStore } from '../ingest/suppression-store.js';
import type { ExportArchive } from './export-archive.js';
import { collectionNamed, subjectFilter } from './export-steps.js';
import { pidCollections } from './pid-registry.js';
import type { PrivacyRequestStore } from './privacy-request-store.js';
import type { PrivacyRequest, StepState } from './privacy-types.js';
import type { ReceiptBook, SignedReceipt } from './receipts.js';

const VERIFY_ROUNDS = 3;

/** What an erase step removed: the count taken before deleting survives a crash mid-delete; late arrivals add. */
export function erasedCount(step: StepState): number {
  return Math.max(step.records ?? 0, step.deleted ?? 0) + (step.stragglers ?? 0);
}

/** Erasure and objection: suppression first, then delete, verify and sign. */
export class ErasureSteps {
  constructor(
    private readonly deps: {
      connection: Connection;
      suppressions: SuppressionStore;
      store: PrivacyRequestStore;
      archive: ExportArchive;
      receipts: ReceiptBook;
      clock: Clock;
      /** Set on FerretDB: the most documents one deleteMany may remove (see bulk-delete.ts). */
      deleteRangeSize?: number;
    },
  ) {}

  /** From here on ingest refuses the device: nothing new can arrive while its data is deleted. */
  async suppress(request: PrivacyRequest): Promise<void> {
    await this.deps.suppressions.add({
      appId: request.appId,
      pid: request.pid,
      reason: request.type === 'delete' ? 'erasure' : 'objection',
      ...(request.purpose !== undefined ? { purpose: request.purpose } : {}),
      requestId: request.id,
      at: this.deps.clock.now(),
    });
  }

  /** Earlier export archives of the device are personal data too. Returns how many were purged. */
  async purgeExports(request: PrivacyRequest): Promise<number> {
    const earlier = await this.deps.store.exportsOf(request.appId, request.pid);
    for (const other of earlier) await this.deps.archive.purge(other, this.deps.clock.now());
    return earlier.length;
  }

  async count(request: PrivacyRequest, name: string): Promise<number> {
    const collection = collectionNamed(this.deps.connection, name);
    return rawCollection(collection.model).countDocuments(subjectFilter(collection, request));
  }

  /**
   * Deletes the subject's records of one collection and returns how many went. Unless an earlier attempt
   * persisted it (`counted`), `onCounted` first persists how many there are — after suppression, before
   * deleting — so a crash mid-delete cannot lose the count. On FerretDB, where every query is a full scan
   * and one deleteMany may remove at most 32,766 documents, the ids are read once (that read is the count)
   * and deleted in ranges; on MongoDB an indexed count, then one deleteMany.
   */
  async erase(request: PrivacyRequest, name: string, counted: number | undefined, onCounted: (records: number) => Promise<void>): Promise<number> {
    const collection = collectionNamed(this.deps.connection, name);
    const raw = rawCollection(collection.model);
    const filter = subjectFilter(collection, request);
    const rangeSize = this.deps.deleteRangeSize;
    if (rangeSize === undefined) {
      if (counted === undefined) await onCounted(await raw.countDocuments(filter));
      return deleteAllMatching(raw, filter);
    }
    const ids = await matchingIds(raw, filter);
    if (counted === undefined) await onCounted(ids.length);
    return deleteIdRanges(raw, filter, ids, rangeSize);
  }

  private async deleteAll(request: PrivacyRequest, name: string): Promise<number> {
    const collection = collectionNamed(this.deps.connection, name);
    return deleteAllMatching(rawCollection(collection.model), subjectFilter(collection, request), this.deps.deleteRangeSize);
  }

  /**
   * Counts every erased collection again. Records that slipped in while deleting (a batch that passed the
   * suppression check just before it was written) are deleted and reported; any left after that fails.
   */
  async verify(request: PrivacyRequest, names: readonly string[]): Promise<Record<string, number>> {
    const stragglers: Record<string, number> = {};
    for (const name of names) {
      for (let round = 0; ; round++) {
        const remaining = await this.count(request, name);
        if (remaining === 0) break;
        if (round >= VERIFY_ROUNDS) throw new Error(`${remaining} records remain in ${name} after erasure`);
        stragglers[name] = (stragglers[name] ?? 0) + (await this.deleteAll(request, name));
      }
    }
    return stragglers;
  }

  async issueReceipt(request: PrivacyRequest): Promise<SignedReceipt> {
    const erased: Record<string, number> = {};
    for (const step of request.steps) {
      if (step.name.startsWith('erase:')) erased[step.name.slice('erase:'.length)] = erasedCount(step);
    }
    const kept = [];
    for (const collection of pidCollections(this.deps.connection)) {
      const basis = collection.meta.keepOnErasure?.legalBasis;
      if (!basis) continue;
      kept.push({ collection: collection.collectionName, records: await this.count(request, collection.collectionName), legalBasis: basis });
    }
    const suppressed = request.steps.find((step) => step.name === 'suppress');
    return this.deps.receipts.issue({
      requestId: request.id,
      appId: request.appId,
      pid: request.pid,
      jurisdiction: request.jurisdiction,
      receivedAt: request.receivedAt.toISOString(),
      suppressedAt: (suppressed?.doneAt ?? this.deps.clock.now()).toISOString(),
      issuedAt: this.deps.clock.now().toISOString(),
      erased,
      kept,
      verifiedEmpty: Object.keys(erased),
    });
  }
}
