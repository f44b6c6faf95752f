import { Schema, type Connection, type Model } from 'mongoose';
import { rawCollection } from '../connections.js';
import { markPidCollection } from '../privacy/pid-registry.js';
import { findByIds, type IdLookup } from './id-lookup.js';
import type { Generations } from './generations.js';
import { suppressionScope } from './suppression-gate.js';

export type SuppressionReason = 'erasure' | 'objection';

export interface Suppression {
  appId: string;
  pid: string;
  reason: SuppressionReason;
  /** For objections, the purpose objected to (GDPR Art. 21). */
  purpose?: string;
  requestId?: string;
  at: Date;
}

/** Devices whose data was erased or who objected. Ingest checks it synchronously before any write. */
export interface SuppressionStore {
  /** Idempotent: suppressing twice keeps the first record. Advances the app's suppression generation after it. */
  add(suppression: Suppression): Promise<void>;
  /** The subset of `pids` that is suppressed for this app. */
  suppressed(appId: string, pids: readonly string[]): Promise<Set<string>>;
}

interface SuppressionDoc extends Suppression {
  _id: string;
}

const suppressionSchema = new Schema<SuppressionDoc>(
  {
    _id: { type: String, required: true },
    appId: { type: String, required: true },
    pid: { type: String, required: true },
    reason: { type: String, required: true },
    purpose: String,
    requestId: String,
    at: { type: Date, required: true },
  },
  { versionKey: false, collection: 'suppressions' },
);
markPidCollection(suppressionSchema, {
  category: 'suppression record',
  purpose: 'refuse further telemetry from a device that asked for erasure or objected',
  retention: 'kept while the app exists',
  keepOnErasure: { legalBasis: 'GDPR Art. 17(3)(b) and 21: needed to honour the erasure or objection itself' },
});

const idOf = (appId: string, pid: string): string => `${appId}:${pid}`;

export class MongoSuppressionStore implements SuppressionStore {
  readonly model: Model<SuppressionDoc>;

  constructor(
    connection: Connection,
    private readonly lookup: IdLookup = 'in',
    /** Absent only where nothing caches suppression answers (tests of other parts). */
    private readonly generations?: Generations,
  ) {
    this.model = connection.model<SuppressionDoc>('Suppression', suppressionSchema);
  }

  async add(suppression: Suppression): Promise<void> {
    const { appId, pid } = suppression;
    await rawCollection(this.model).updateOne(
      { _id: idOf(appId, pid) },
      { $setOnInsert: { _id: idOf(appId, pid), ...suppression } },
      { upsert: true },
    );
    // After the record is durable and before the caller deletes anything (see SuppressionGate).
    await this.generations?.advance(suppressionScope(appId));
  }

  async suppressed(appId: string, pids: readonly string[]): Promise<Set<string>> {
    if (pids.length === 0) return new Set();
    // By _id: one `$in` round trip on MongoDB, parallel single-_id queries on FerretDB (see id-lookup.ts).
    const docs = await findByIds(rawCollection(this.model), pids.map((pid) => idOf(appId, pid)), { pid: 1 }, this.lookup);
    return new Set(docs.map((doc) => doc.pid));
  }
}
