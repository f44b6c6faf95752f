import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Clock } from '../clock.js';
import { canonicalJson } from '../crypto/canonical-json.js';
import { sha256Hex } from '../crypto/keys.js';
import { UnavailableError } from '../errors.js';
import { normaliseDetails } from './audit-details.js';
import type { AuditAnchor, AuditEntry, AuditFilter, AuditStore } from './audit-store.js';

export const AUDIT_GENESIS_HASH = '0'.repeat(64);
export const SYSTEM_ACTOR = 'system';

export interface AuditRecord {
  /** API key id, or SYSTEM_ACTOR for automatic actions (guard, retention, privacy steps). */
  actor: string;
  action: string;
  target: string;
  /** The app concerned, when there is one: keys scoped to other apps do not see the entry. */
  appId?: string;
  outcome?: 'success' | 'failure';
  /** Never a raw device id or a secret: pids, ids and counts only. Sensitive-looking keys are redacted. */
  details?: Record<string, unknown>;
}

export type AuditBreak = 'sequence_gap' | 'link_broken' | 'entry_modified' | 'tail_truncated' | 'anchor_invalid' | 'anchor_missing';

export interface AuditVerification {
  valid: boolean;
  /** Entries that verified, in chain order, before the first problem. */
  checked: number;
  /** Chain position where trust ends: the first missing, altered or unlinked entry. */
  firstBrokenAt?: number;
  reason?: AuditBreak;
  /** The last verified entry: pin it outside otaguard to detect a rolled-back anchor later. */
  head?: { seq: number; hash: string };
}

const MAX_ATTEMPTS = 100;
const MAX_BATCH = 100;

type Position = { seq: number; hash: string };
type Pending = { record: AuditRecord; resolve: (entry: AuditEntry) => void; reject: (err: unknown) => void; alone?: boolean };

/**
 * Append-only, hash-chained, MAC-ed audit log.
 *
 * - Each entry stores the previous entry's hash (the first the genesis value) and its own SHA-256 over
 *   its canonical JSON, plus an HMAC of that hash under a key derived from MASTER_KEY. Editing an entry
 *   breaks its hash; recomputing the chain after an edit needs the MAC key, which never touches the DB.
 * - The chain position is the document _id, so two processes cannot take the same place; the loser
 *   re-reads the head and tries again. Appends are serialised within a process, so races are only ever
 *   between processes.
 * - An anchor (highest position and its hash, MAC-ed) lives in its own collection and only moves
 *   forward, so deleting the tail is detected; appends after a truncation link to the anchor, leaving the
 *   gap visible rather than healing it.
 */
export class AuditLog {
  private readonly pending: Pending[] = [];
  private draining = false;
  private lastWritten: Position | undefined;

  constructor(
    private readonly store: AuditStore,
    private readonly clock: Clock,
    private readonly macKey: Buffer,
  ) {}

  /** Appends one entry. Entries recorded while an append is in flight go out together, in order. */
  record(record: AuditRecord): Promise<AuditEntry> {
    return new Promise((resolve, reject) => {
      this.pending.push({ record, resolve, reject });
      if (!this.draining) void this.drain();
    });
  }

  async find(filter: AuditFilter): Promise<AuditEntry[]> {
    return this.store.find(filter);
  }

  async verify(): Promise<AuditVerification> {
    // Read the anchor first: every position it names was written before it, so the scan must find it.
    const anchor = await this.store.anchor();
    let checked = 0;
    let prev: Position = { seq: 0, hash: AUDIT_GENESIS_HASH };
    let hashAtAnchor: string | undefined;
    const broken = (firstBrokenAt: number, reason: AuditBreak): AuditVerification => ({
      valid: false,
      checked,
      firstBrokenAt,
      reason,
      ...(prev.seq > 0 ? { head: prev } : {}),
    });
    for await (const entry of this.store.scan()) {
      const expected = prev.seq + 1;
      if (entry.seq !== expected) return broken(expected, 'sequence_gap');
      const { hash, mac, ...unhashed } = entry;
      if (this.hashOf(unhashed) !== hash || !this.macMatches(hash, mac)) return broken(expected, 'entry_modified');
      if (entry.prevHash !== prev.hash) return broken(expected, 'link_broken');
      checked++;
      prev = { seq: entry.seq, hash };
      if (anchor && entry.seq === anchor.seq) hashAtAnchor = hash;
    }
    if (anchor) {
      if (!this.macMatches(anchor.hash, anchor.mac)) return broken(Math.min(anchor.seq, checked + 1), 'anchor_invalid');
      if (checked < anchor.seq) return broken(checked + 1, 'tail_truncated');
      if (hashAtAnchor !== anchor.hash) return broken(anchor.seq, 'tail_truncated');
    } else if (checked > 0) {
      return broken(1, 'anchor_missing');
    }
    return { valid: true, checked, ...(prev.seq > 0 ? { head: prev } : {}) };
  }

  private async drain(): Promise<void> {
    this.draining = true;
    try {
      while (this.pending.length > 0) {
        const batch = this.nextBatch();
        const written: AuditEntry[] = [];
        try {
          await this.append(batch.map((p) => p.record), written);
          batch.forEach((p, i) => p.resolve(written[i]!));
        } catch (err) {
          batch.slice(0, written.length).forEach((p, i) => p.resolve(written[i]!));
          const rest = batch.slice(written.length);
          // One bad record must not fail its neighbours: the rest are retried one by one.
          if (rest.length === 1) rest[0]!.reject(err);
          else this.pending.unshift(...rest.map((p) => ({ ...p, alone: true })));
        }
      }
    } finally {
      this.draining = false;
    }
  }

  private nextBatch(): Pending[] {
    if (this.pending[0]?.alone) return this.pending.splice(0, 1);
    let size = 0;
    while (size < this.pending.length && size < MAX_BATCH && !this.pending[size]!.alone) size++;
    return this.pending.splice(0, size);
  }

  /**
   * Chains `records` after the head and inserts them in order into `written`, re-reading the head
   * whenever another process got there first.
   */
  private async append(records: readonly AuditRecord[], written: AuditEntry[]): Promise<void> {
    let base = this.lastWritten ?? (await this.readBase());
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      const entries = this.chain(base, records.slice(written.length));
      let inserted: number;
      try {
        inserted = await this.store.insertMany(entries);
      } catch (err) {
        await this.accept(entries.slice(0, (err as { insertedBefore?: number }).insertedBefore ?? 0), written);
        throw err;
      }
      await this.accept(entries.slice(0, inserted), written);
      if (written.length === records.length) return;
      // Another process took the next position: back off a little (more each time) and re-read the head.
      await new Promise((resolve) => setTimeout(resolve, Math.random() * Math.min(50, attempt * 2)));
      base = await this.readBase();
    }
    throw new UnavailableError('The audit log is busy; retry', 1);
  }

  /** Entries now stored: remember the new head and move the anchor to it. */
  private async accept(entries: readonly AuditEntry[], written: AuditEntry[]): Promise<void> {
    const last = entries.at(-1);
    if (!last) return;
    written.push(...entries);
    this.lastWritten = { seq: last.seq, hash: last.hash };
    await this.store.advanceAnchor({ seq: last.seq, hash: last.hash, mac: last.mac });
  }

  private chain(base: Position, records: readonly AuditRecord[]): AuditEntry[] {
    const at = this.clock.now();
    let prev = base;
    return records.map((record) => {
      const unhashed: Omit<AuditEntry, 'hash' | 'mac'> = {
        seq: prev.seq + 1,
        at,
        actor: record.actor,
        action: record.action,
        target: record.target,
        ...(record.appId !== undefined ? { appId: record.appId } : {}),
        outcome: record.outcome ?? 'success',
        details: normaliseDetails(record.details ?? {}),
        prevHash: prev.hash,
      };
      const hash = this.hashOf(unhashed);
      prev = { seq: unhashed.seq, hash };
      return { ...unhashed, hash, mac: this.macOf(hash) };
    });
  }

  /** The position to append after: the stored head, or the anchor when the tail was cut off. */
  private async readBase(): Promise<Position> {
    const [head, anchor]: [AuditEntry | null, AuditAnchor | null] = await Promise.all([this.store.head(), this.store.anchor()]);
    if (anchor && (!head || anchor.seq > head.seq)) return { seq: anchor.seq, hash: anchor.hash };
    return head ? { seq: head.seq, hash: head.hash } : { seq: 0, hash: AUDIT_GENESIS_HASH };
  }

  private hashOf(unhashed: Omit<AuditEntry, 'hash' | 'mac'>): string {
    return sha256Hex(canonicalJson(unhashed));
  }

  private macOf(hash: string): string {
    return createHmac('sha256', this.macKey).update(`audit:${hash}`).digest('hex');
  }

  private macMatches(hash: string, mac: unknown): boolean {
    const expected = Buffer.from(this.macOf(hash), 'hex');
    const given = typeof mac === 'string' && /^[0-9a-f]{64}$/.test(mac) ? Buffer.from(mac, 'hex') : Buffer.alloc(0);
    return given.length === expected.length && timingSafeEqual(given, expected);
  }
}
