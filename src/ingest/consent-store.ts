import { Schema, type Connection, type Model } from 'mongoose';
import { isDuplicateKeyError, rawCollection } from '../connections.js';
import { markPidCollection } from '../privacy/pid-registry.js';
import { findByIds, type IdLookup } from './id-lookup.js';

/** One consent decision as kept in the append-only ledger (collection `consents`). */
export interface ConsentRecord {
  receiptId: string;
  appId: string;
  pid: string;
  /** 1, 2, 3… per device: the ledger's order. Claimed by inserting `_id` = `${appId}:${pid}:${seq}`. */
  seq: number;
  granted: boolean;
  purposes: string[];
  policyVersion: string;
  source: string;
  at: Date;
}

/** The latest decision for one purpose. */
export interface PurposeConsent {
  granted: boolean;
  seq: number;
  at: Date;
  policyVersion: string;
  source: string;
  receiptId: string;
}

/** A device's current consent (collection `device_consents`): the ledger folded up to `seq`. */
export interface ConsentState {
  appId: string;
  pid: string;
  /** The last ledger entry folded in. */
  seq: number;
  purposes: Record<string, PurposeConsent>;
}

/** Append-only: no update and no delete here (erasure goes through the pid registry). */
export interface ConsentLedger {
  /** false when that seq is already taken for the device (someone else's decision). */
  append(record: ConsentRecord): Promise<boolean>;
  entry(appId: string, pid: string, seq: number): Promise<ConsentRecord | null>;
}

export interface ConsentStateStore {
  get(appId: string, pid: string): Promise<ConsentState | null>;
  /**
   * Whole-document write. On MongoDB it never replaces a newer state; on FerretDB concurrent writers may
   * overwrite each other, so callers re-check (see ConsentService).
   */
  put(state: ConsentState): Promise<void>;
  /** pids whose latest `telemetry` decision is a grant; read from the database every time. */
  telemetryGranted(appId: string, pids: readonly string[]): Promise<Set<string>>;
}

interface ConsentDoc extends ConsentRecord {
  _id: string;
}
interface ConsentStateDoc extends ConsentState {
  _id: string;
}

const consentSchema = new Schema<ConsentDoc>(
  {
    _id: { type: String, required: true },
    receiptId: { type: String, required: true },
    appId: { type: String, required: true },
    pid: { type: String, required: true },
    seq: { type: Number, required: true },
    granted: { type: Boolean, required: true },
    purposes: { type: [String], required: true },
    policyVersion: { type: String, required: true },
    source: { type: String, required: true },
    at: { type: Date, required: true },
  },
  { versionKey: false, collection: 'consents' },
);
// A device's history in order (access, export, erasure, proof of consent).
consentSchema.index({ appId: 1, pid: 1, seq: 1 });
markPidCollection(consentSchema, {
  category: 'consent records',
  purpose: 'demonstrate when and how the device granted or withdrew consent (GDPR Art. 7(1))',
  retention: 'kept while the app exists; removed on erasure',
});

const stateSchema = new Schema<ConsentStateDoc>(
  {
    _id: { type: String, required: true },
    appId: { type: String, required: true },
    pid: { type: String, required: true },
    seq: { type: Number, required: true },
    purposes: { type: Schema.Types.Mixed, required: true },
  },
  { versionKey: false, collection: 'device_consents', minimize: false },
);
// Access, export and erasure by device; ingest reads by _id.
stateSchema.index({ appId: 1, pid: 1 });
markPidCollection(stateSchema, {
  category: 'current consent',
  purpose: "decide whether the device's telemetry may be stored",
  retention: 'kept while the app exists; removed on erasure',
});

export const consentStateId = (appId: string, pid: string): string => `${appId}:${pid}`;
const entryId = (appId: string, pid: string, seq: number): string => `${appId}:${pid}:${seq}`;

export class MongoConsentLedger implements ConsentLedger {
  readonly model: Model<ConsentDoc>;

  constructor(connection: Connection) {
    this.model = connection.model<ConsentDoc>('ConsentRecord', consentSchema);
  }

  async append(record: ConsentRecord): Promise<boolean> {
    try {
      await rawCollection(this.model).insertOne({ _id: entryId(record.appId, record.pid, record.seq), ...record });
      return true;
    } catch (err) {
      if (isDuplicateKeyError(err)) return false;
      throw err;
    }
  }

  async entry(appId: string, pid: string, seq: number): Promise<ConsentRecord | null> {
    const doc = await rawCollection(this.model).findOne({ _id: entryId(appId, pid, seq) });
    if (!doc) return null;
    const { _id, ...record } = doc;
    return { ...record, purposes: record.purposes ?? [] };
  }
}

export class MongoConsentStateStore implements ConsentStateStore {
  readonly model: Model<ConsentStateDoc>;

  /**
   * `conditionalPut`: write only over an older state (`seq` lower), atomically. True on MongoDB, where a
   * filtered replace is one atomic step on the primary key. FerretDB evaluates such a filter by scanning
   * and then writes without compare-and-swap, so there it buys nothing but the scan: there the service's
   * fold-until-settled loop alone repairs a stale write (see ConsentService).
   */
  constructor(
    connection: Connection,
    private readonly lookup: IdLookup = 'in',
    private readonly conditionalPut = lookup === 'in',
  ) {
    this.model = connection.model<ConsentStateDoc>('DeviceConsent', stateSchema);
  }

  async get(appId: string, pid: string): Promise<ConsentState | null> {
    const doc = await rawCollection(this.model).findOne({ _id: consentStateId(appId, pid) });
    if (!doc) return null;
    const { _id, ...state } = doc;
    return { ...state, purposes: state.purposes ?? {} };
  }

  async put(state: ConsentState): Promise<void> {
    const _id = consentStateId(state.appId, state.pid);
    if (this.conditionalPut) {
      try {
        await rawCollection(this.model).replaceOne({ _id, seq: { $lt: state.seq } }, { ...state }, { upsert: true });
      } catch (err) {
        // No older state matched and the upsert hit the existing _id: a newer state is already there.
        if (!isDuplicateKeyError(err)) throw err;
      }
      return;
    }
    try {
      await rawCollection(this.model).replaceOne({ _id }, { ...state }, { upsert: true });
    } catch (err) {
      // Two first decisions raced to create the document: the loser writes over the winner's.
      if (!isDuplicateKeyError(err)) throw err;
      await rawCollection(this.model).replaceOne({ _id }, { ...state });
    }
  }

  async telemetryGranted(appId: string, pids: readonly string[]): Promise<Set<string>> {
    const docs = await findByIds(
      rawCollection(this.model),
      pids.map((pid) => consentStateId(appId, pid)),
      { pid: 1, 'purposes.telemetry.granted': 1 },
      this.lookup,
    );
    return new Set(docs.filter((doc) => doc.purposes?.telemetry?.granted === true).map((doc) => doc.pid));
  }
}
