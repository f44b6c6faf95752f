import type { Clock } from '../clock.js';
import { canonicalJson } from '../crypto/canonical-json.js';
import { sha256Hex } from '../crypto/keys.js';
import type { AuditEntry, AuditFilter, AuditStore } from './audit-store.js';

export const AUDIT_GENESIS_HASH = '0'.repeat(64);
export const SYSTEM_ACTOR = 'system';

export interface AuditRecord {
  /** API key id, or SYSTEM_ACTOR for automatic actions (guard, retention, privacy steps). */
  actor: string;
  action: string;
  target: string;
  outcome?: 'success' | 'failure';
  /** Never a raw device id or a secret: pids, ids and counts only. */
  details?: Record<string, unknown>;
}

export interface AuditVerification {
  valid: boolean;
  checked: number;
  firstBrokenAt?: number;
}

function entryHash(entry: Omit<AuditEntry, 'hash'>): string {
  return sha256Hex(canonicalJson(entry));
}

/**
 * Append-only, hash-chained audit log. Each entry stores the previous entry's hash; the chain position is
 * the document _id, so two processes appending at once cannot both take the same place — the loser
 * re-reads the head and tries again. Editing or deleting any entry breaks verification from there on.
 */
export class AuditLog {
  constructor(
    private readonly store: AuditStore,
    private readonly clock: Clock,
  ) {}

  async record(record: AuditRecord): Promise<AuditEntry> {
    for (let attempt = 0; attempt < 50; attempt++) {
      const head = await this.store.head();
      const unhashed: Omit<AuditEntry, 'hash'> = {
        seq: (head?.seq ?? 0) + 1,
        at: this.clock.now(),
        actor: record.actor,
        action: record.action,
        target: record.target,
        outcome: record.outcome ?? 'success',
        details: record.details ?? {},
        prevHash: head?.hash ?? AUDIT_GENESIS_HASH,
      };
      const entry = { ...unhashed, hash: entryHash(unhashed) };
      if (await this.store.insert(entry)) return entry;
    }
    throw new Error('audit log append kept losing the race');
  }

  async find(filter: AuditFilter): Promise<AuditEntry[]> {
    return this.store.find(filter);
  }

  async verify(): Promise<AuditVerification> {
    let checked = 0;
    let expectedSeq = 1;
    let prevHash = AUDIT_GENESIS_HASH;
    for await (const entry of this.store.scan()) {
      const { hash, ...unhashed } = entry;
      if (entry.seq !== expectedSeq || entry.prevHash !== prevHash || entryHash(unhashed) !== hash) {
        return { valid: false, checked, firstBrokenAt: expectedSeq };
      }
      checked++;
      expectedSeq++;
      prevHash = hash;
    }
    return { valid: true, checked };
  }
}
