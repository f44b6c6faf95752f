import { Schema, type Connection, type Model } from 'mongoose';
import { rawCollection } from '../connections.js';

export interface AuditEntry {
  /** Position in the chain, from 1. */
  seq: number;
  at: Date;
  /** API key id, or `system` for automatic actions. */
  actor: string;
  action: string;
  target: string;
  outcome: 'success' | 'failure';
  details: Record<string, unknown>;
  prevHash: string;
  hash: string;
}

export interface AuditFilter {
  from?: Date;
  to?: Date;
  action?: string;
  actor?: string;
  limit: number;
}

export interface AuditStore {
  head(): Promise<AuditEntry | null>;
  /** false when another process took this seq first. */
  insert(entry: AuditEntry): Promise<boolean>;
  find(filter: AuditFilter): Promise<AuditEntry[]>;
  /** Every entry in chain order, streamed. */
  scan(): AsyncIterable<AuditEntry>;
}

interface AuditDoc extends Omit<AuditEntry, 'seq'> {
  _id: number;
}

const auditSchema = new Schema<AuditDoc>(
  {
    _id: { type: Number, required: true },
    at: { type: Date, required: true },
    actor: { type: String, required: true },
    action: { type: String, required: true },
    target: { type: String, required: true },
    outcome: { type: String, required: true },
    details: { type: Schema.Types.Mixed, default: {} },
    prevHash: { type: String, required: true },
    hash: { type: String, required: true },
  },
  { versionKey: false, collection: 'audit_entries', minimize: false },
);
// GET /v1/audit filters by time, then action or actor.
auditSchema.index({ at: 1 });
auditSchema.index({ action: 1, at: 1 });
auditSchema.index({ actor: 1, at: 1 });

const toEntry = ({ _id, ...rest }: AuditDoc): AuditEntry => ({ seq: _id, ...rest });

export class MongoAuditStore implements AuditStore {
  readonly model: Model<AuditDoc>;

  constructor(connection: Connection) {
    this.model = connection.model<AuditDoc>('AuditEntry', auditSchema);
  }

  async head(): Promise<AuditEntry | null> {
    const doc = await this.model.findOne().sort({ _id: -1 }).lean<AuditDoc>();
    return doc ? toEntry(doc) : null;
  }

  async insert({ seq, ...rest }: AuditEntry): Promise<boolean> {
    try {
      await rawCollection(this.model).insertOne({ _id: seq, ...rest });
      return true;
    } catch (err) {
      if ((err as { code?: number }).code === 11000) return false;
      throw err;
    }
  }

  async find(filter: AuditFilter): Promise<AuditEntry[]> {
    const query: Record<string, unknown> = {};
    if (filter.from || filter.to) {
      query.at = { ...(filter.from ? { $gte: filter.from } : {}), ...(filter.to ? { $lt: filter.to } : {}) };
    }
    if (filter.action) query.action = filter.action;
    if (filter.actor) query.actor = filter.actor;
    const docs = await this.model.find(query).sort({ _id: 1 }).limit(filter.limit).lean<AuditDoc[]>();
    return docs.map(toEntry);
  }

  async *scan(): AsyncIterable<AuditEntry> {
    for await (const doc of rawCollection(this.model).find({}).sort({ _id: 1 })) {
      yield toEntry(doc as AuditDoc);
    }
  }
}
