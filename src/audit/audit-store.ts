import { Schema, type Connection, type Model } from 'mongoose';
import { DUPLICATE_KEY, isDuplicateKeyError, rawCollection } from '../connections.js';

export interface AuditEntry {
  /** Position in the chain, from 1. */
  seq: number;
  at: Date;
  /** API key id, or `system` for automatic actions. */
  actor: string;
  action: string;
  target: string;
  /** The app the action concerns, when there is one: scoped keys see only their apps' entries. */
  appId?: string;
  outcome: 'success' | 'failure';
  details: Record<string, unknown>;
  prevHash: string;
  /** SHA-256 over the canonical JSON of every other field: anyone can check the links. */
  hash: string;
  /** HMAC-SHA256 of `hash` under a key derived from MASTER_KEY: only otaguard can mint a valid entry. */
  mac: string;
}

/** The highest chain position ever written, kept apart from the entries so a truncated tail shows. */
export interface AuditAnchor {
  seq: number;
  hash: string;
  mac: string;
}

export interface AuditFilter {
  from?: Date;
  to?: Date;
  action?: string;
  actor?: string;
  /** Only entries of these apps (scoped readers); undefined = every entry. */
  appIds?: readonly string[];
  /** Entries after this chain position (paging). */
  after?: number;
  limit: number;
}

export interface AuditStore {
  head(): Promise<AuditEntry | null>;
  /** false when another process took this seq first. */
  insert(entry: AuditEntry): Promise<boolean>;
  /**
   * Inserts consecutive entries in order; stops at the first position another process took and returns
   * how many were inserted before it. Any other failure is thrown with `insertedBefore` set.
   */
  insertMany(entries: readonly AuditEntry[]): Promise<number>;
  find(filter: AuditFilter): Promise<AuditEntry[]>;
  /** Every entry in chain order, streamed. */
  scan(): AsyncIterable<AuditEntry>;
  anchor(): Promise<AuditAnchor | null>;
  /** Moves the anchor forward to `anchor`; never backwards. */
  advanceAnchor(anchor: AuditAnchor): Promise<void>;
}

interface AuditDoc extends Omit<AuditEntry, 'seq'> {
  _id: number;
}

interface AnchorDoc extends AuditAnchor {
  _id: string;
}

const auditSchema = new Schema<AuditDoc>(
  {
    _id: { type: Number, required: true },
    at: { type: Date, required: true },
    actor: { type: String, required: true },
    action: { type: String, required: true },
    target: { type: String, required: true },
    appId: String,
    outcome: { type: String, required: true },
    details: { type: Schema.Types.Mixed, default: {} },
    prevHash: { type: String, required: true },
    hash: { type: String, required: true },
    mac: { type: String, required: true },
  },
  { versionKey: false, collection: 'audit_entries', minimize: false },
);
// GET /v1/audit filters by time, then action or actor; scoped readers by app.
auditSchema.index({ at: 1 });
auditSchema.index({ action: 1, at: 1 });
auditSchema.index({ actor: 1, at: 1 });
auditSchema.index({ appId: 1, at: 1 });

const anchorSchema = new Schema<AnchorDoc>(
  {
    _id: { type: String, required: true },
    seq: { type: Number, required: true },
    hash: { type: String, required: true },
    mac: { type: String, required: true },
  },
  { versionKey: false, collection: 'audit_anchor' },
);

const ANCHOR_ID = 'head';

const toEntry = ({ _id, ...rest }: AuditDoc): AuditEntry => ({ seq: _id, ...rest });

export class MongoAuditStore implements AuditStore {
  readonly model: Model<AuditDoc>;
  readonly anchorModel: Model<AnchorDoc>;

  constructor(connection: Connection) {
    this.model = connection.model<AuditDoc>('AuditEntry', auditSchema);
    this.anchorModel = connection.model<AnchorDoc>('AuditAnchor', anchorSchema);
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
      if (isDuplicateKeyError(err)) return false;
      throw err;
    }
  }

  async insertMany(entries: readonly AuditEntry[]): Promise<number> {
    if (entries.length === 0) return 0;
    try {
      await rawCollection(this.model).insertMany(
        entries.map(({ seq, ...rest }) => ({ _id: seq, ...rest })),
        { ordered: true },
      );
      return entries.length;
    } catch (err) {
      const first = (err as { code?: number; writeErrors?: Array<{ code?: number; index?: number }> | { code?: number; index?: number } })
        .writeErrors;
      const writeError = Array.isArray(first) ? first[0] : first;
      const code = writeError?.code ?? (err as { code?: number }).code;
      if (code === DUPLICATE_KEY && typeof writeError?.index === 'number') return writeError.index;
      if (code === DUPLICATE_KEY && entries.length === 1) return 0;
      // Another failure: say how many went in before it, so the caller neither loses nor repeats them.
      throw Object.assign(err as Error, { insertedBefore: typeof writeError?.index === 'number' ? writeError.index : 0 });
    }
  }

  async find(filter: AuditFilter): Promise<AuditEntry[]> {
    // Every value is a plain string, Date or number put here by the service: never a caller's object.
    const query: Record<string, unknown> = {};
    if (filter.from || filter.to) {
      query.at = { ...(filter.from ? { $gte: filter.from } : {}), ...(filter.to ? { $lt: filter.to } : {}) };
    }
    if (filter.action !== undefined) query.action = String(filter.action);
    if (filter.actor !== undefined) query.actor = String(filter.actor);
    if (filter.appIds !== undefined) query.appId = { $in: filter.appIds.map(String) };
    if (filter.after !== undefined) query._id = { $gt: Number(filter.after) };
    const docs = await this.model.find(query).sort({ _id: 1 }).limit(filter.limit).lean<AuditDoc[]>();
    return docs.map(toEntry);
  }

  async *scan(): AsyncIterable<AuditEntry> {
    for await (const doc of rawCollection(this.model).find({}).sort({ _id: 1 })) {
      yield toEntry(doc as AuditDoc);
    }
  }

  async anchor(): Promise<AuditAnchor | null> {
    const doc = await this.anchorModel.findById(ANCHOR_ID).lean<AnchorDoc>();
    return doc ? { seq: doc.seq, hash: doc.hash, mac: doc.mac } : null;
  }

  async advanceAnchor(anchor: AuditAnchor): Promise<void> {
    try {
      // Matches only an older anchor; when a newer one exists the upsert collides on _id and we stop.
      await rawCollection(this.anchorModel).updateOne(
        { _id: ANCHOR_ID, seq: { $lt: anchor.seq } },
        { $set: { seq: anchor.seq, hash: anchor.hash, mac: anchor.mac } },
        { upsert: true },
      );
    } catch (err) {
      if (!isDuplicateKeyError(err)) throw err;
    }
  }
}
