import { describe, expect, it } from 'vitest';
import { AuditLog } from '../../../src/audit/audit-log.js';
import type { AuditAnchor, AuditEntry, AuditFilter, AuditStore } from '../../../src/audit/audit-store.js';
import { ManualClock } from '../../../src/clock.js';

/** One shared "database" that several AuditLog instances (processes) append to; writes yield, so appends interleave. */
class MemoryAuditStore implements AuditStore {
  readonly entries = new Map<number, AuditEntry>();
  anchorDoc: AuditAnchor | null = null;
  failOn?: (entry: AuditEntry) => boolean;
  private readonly tick = () => new Promise((r) => setTimeout(r, Math.random() * 2));

  async head() {
    await this.tick();
    const max = Math.max(0, ...this.entries.keys());
    return this.entries.get(max) ?? null;
  }
  async insert(entry: AuditEntry) {
    return (await this.insertMany([entry])) === 1;
  }
  async insertMany(entries: readonly AuditEntry[]) {
    await this.tick();
    for (const [i, entry] of entries.entries()) {
      if (this.failOn?.(entry)) throw Object.assign(new Error('refused'), { insertedBefore: i });
      if (this.entries.has(entry.seq)) return i;
      this.entries.set(entry.seq, structuredClone(entry));
    }
    return entries.length;
  }
  async find(filter: AuditFilter) {
    return [...this.entries.values()].slice(0, filter.limit);
  }
  async *scan() {
    for (const seq of [...this.entries.keys()].sort((a, b) => a - b)) yield this.entries.get(seq)!;
  }
  async anchor() {
    return this.anchorDoc;
  }
  async advanceAnchor(anchor: AuditAnchor) {
    await this.tick();
    if (!this.anchorDoc || this.anchorDoc.seq < anchor.seq) this.anchorDoc = anchor;
  }
}

const key = Buffer.alloc(32, 7);

describe('AuditLog appends', () => {
  it('keeps one valid chain when three "processes" append 300 entries at once', async () => {
    const store = new MemoryAuditStore();
    const logs = [0, 1, 2].map(() => new AuditLog(store, new ManualClock(), key));
    const results = await Promise.all(
      logs.flatMap((log, p) => Array.from({ length: 100 }, (_, i) => log.record({ actor: `p${p}`, action: 'test', target: `t${i}` }))),
    );
    expect(new Set(results.map((e) => e.seq)).size).toBe(300);
    expect([...store.entries.keys()].sort((a, b) => a - b)).toEqual(Array.from({ length: 300 }, (_, i) => i + 1));
    expect(await logs[0]!.verify()).toMatchObject({ valid: true, checked: 300, head: { seq: 300 } });
    // Each process's own entries keep the order it recorded them in.
    for (const p of [0, 1, 2]) {
      const mine = results.filter((e) => e.actor === `p${p}`).map((e) => e.seq);
      expect(mine).toEqual([...mine].sort((a, b) => a - b));
    }
  });

  it('fails only the record the store refuses; its neighbours in the same batch are written once', async () => {
    const store = new MemoryAuditStore();
    store.failOn = (entry) => entry.target === 'bad';
    const log = new AuditLog(store, new ManualClock(), key);
    const outcomes = await Promise.allSettled(['a', 'b', 'bad', 'c', 'd'].map((target) => log.record({ actor: 'x', action: 'test', target })));
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
    expect([...store.entries.values()].map((e) => e.target)).toEqual(['a', 'b', 'c', 'd']);
    expect(await log.verify()).toMatchObject({ valid: true, checked: 4 });
  });

  it('detects a MAC made with another key', async () => {
    const store = new MemoryAuditStore();
    await new AuditLog(store, new ManualClock(), key).record({ actor: 'x', action: 'a', target: 't' });
    expect(await new AuditLog(store, new ManualClock(), Buffer.alloc(32, 8)).verify()).toMatchObject({ valid: false, firstBrokenAt: 1, reason: 'entry_modified' });
  });
});
