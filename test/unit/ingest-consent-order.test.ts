import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.js';
import { KeyRing } from '../../src/crypto/keys.js';
import { Pseudonyms } from '../../src/crypto/pseudonyms.js';
import { ConsentService } from '../../src/ingest/consent-service.js';
import type { ConsentLedger, ConsentRecord, ConsentState, ConsentStateStore } from '../../src/ingest/consent-store.js';
import { createLogger } from '../../src/logger.js';

const pause = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, Math.random() * 4));

/** Unique seq per device, like the `_id` of the real ledger. */
class MemoryLedger implements ConsentLedger {
  readonly entries = new Map<string, ConsentRecord>();
  async append(record: ConsentRecord): Promise<boolean> {
    await pause();
    const key = `${record.pid}:${record.seq}`;
    if (this.entries.has(key)) return false;
    this.entries.set(key, record);
    return true;
  }
  async entry(_appId: string, pid: string, seq: number): Promise<ConsentRecord | null> {
    await pause();
    return this.entries.get(`${pid}:${seq}`) ?? null;
  }
}

/** Whole-document writes that land after a random delay, in any order: FerretDB's lost-update behaviour. */
class LossyStates implements ConsentStateStore {
  state: ConsentState | null = null;
  async get(): Promise<ConsentState | null> {
    await pause();
    return this.state && structuredClone(this.state);
  }
  async put(state: ConsentState): Promise<void> {
    const copy = structuredClone(state);
    // Sometimes slow: a write computed from an old read lands after newer ones.
    await new Promise((resolve) => setTimeout(resolve, Math.random() < 0.3 ? Math.random() * 25 : Math.random() * 2));
    this.state = copy;
  }
  async telemetryGranted(): Promise<Set<string>> {
    return new Set(this.state?.purposes.telemetry?.granted ? [this.state.pid] : []);
  }
}

function service(ledger: MemoryLedger, states: LossyStates): ConsentService {
  return new ConsentService({
    ledger,
    states,
    suppressions: { add: async () => undefined, suppressed: async () => new Set<string>() },
    pseudonyms: new Pseudonyms(new KeyRing(randomBytes(32))),
    rateLimits: { consumeApp: async () => undefined, consumeDevices: async () => undefined },
    generations: { read: async () => undefined, advance: async () => undefined },
    clock: new ManualClock(),
    logger: createLogger('silent'),
  });
}

describe('consent ordering under lost and reordered writes', () => {
  it('always ends with the state of the newest ledger entry, per purpose', async () => {
    for (let run = 0; run < 30; run++) {
      const ledger = new MemoryLedger();
      const states = new LossyStates();
      const consent = service(ledger, states);
      const decisions = Array.from({ length: 12 }, (_, i) => ({
        deviceId: 'device-1',
        granted: Math.random() < 0.5,
        purposes: i % 3 === 0 ? ['telemetry', 'crash_reports'] : ['telemetry'],
        policyVersion: `v${i}`,
        source: 'test',
      }));
      // Staggered, so writers fold different prefixes of the ledger and their writes overtake each other.
      const receipts = await Promise.all(
        decisions.map(async (d) => {
          await new Promise((resolve) => setTimeout(resolve, Math.random() * 30));
          return consent.record('com.test.app', d);
        }),
      );

      const entries = [...ledger.entries.values()].sort((a, b) => a.seq - b.seq);
      expect(entries.map((e) => e.seq)).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
      expect(new Set(entries.map((e) => e.receiptId))).toEqual(new Set(receipts.map((r) => r.receiptId)));
      const newest = (purpose: string): ConsentRecord => entries.filter((e) => e.purposes.includes(purpose)).at(-1)!;
      expect(states.state?.seq).toBe(12);
      for (const purpose of ['telemetry', 'crash_reports']) {
        expect(states.state?.purposes[purpose]).toMatchObject({ seq: newest(purpose).seq, granted: newest(purpose).granted });
      }
    }
  });
});
