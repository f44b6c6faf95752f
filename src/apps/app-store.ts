import { Schema, type Connection, type Model } from 'mongoose';
import { isDuplicateKeyError, rawCollection } from '../connections.js';

export interface AppRecord {
  appId: string;
  name: string;
  ingestKeyHash: string;
  /** Days raw events are kept; the retention job purges older ones. */
  retentionDays: number;
  /** Guard settings that override the spec defaults for every rollout of this app. */
  guardDefaults: Record<string, unknown>;
  /** Ed25519 public key (PEM or base64 SPKI) that release signatures must verify against, when set. */
  signingPublicKey?: string;
  createdAt: Date;
}

export interface AppStore {
  /** false when the appId is taken. */
  insert(app: AppRecord): Promise<boolean>;
  get(appId: string): Promise<AppRecord | null>;
  findByIngestKeyHash(hash: string): Promise<AppRecord | null>;
  list(appIds?: readonly string[]): Promise<AppRecord[]>;
  /** Sets (or with null removes) the release signing key; false when the app does not exist. */
  setSigningPublicKey(appId: string, pem: string | null): Promise<boolean>;
  /** Replaces the app's guard defaults; false when the app does not exist. */
  setGuardDefaults(appId: string, defaults: Record<string, unknown>): Promise<boolean>;
}

interface AppDoc extends Omit<AppRecord, 'appId'> {
  _id: string;
}

const appSchema = new Schema<AppDoc>(
  {
    _id: { type: String, required: true },
    name: { type: String, required: true },
    ingestKeyHash: { type: String, required: true },
    retentionDays: { type: Number, required: true },
    guardDefaults: { type: Schema.Types.Mixed, default: {} },
    signingPublicKey: String,
    createdAt: { type: Date, required: true },
  },
  { versionKey: false, collection: 'apps', minimize: false },
);
// Device requests authenticate by ingest key hash.
appSchema.index({ ingestKeyHash: 1 }, { unique: true });

function toRecord({ _id, ...rest }: AppDoc): AppRecord {
  return { appId: _id, ...rest };
}


export class MongoAppStore implements AppStore {
  readonly model: Model<AppDoc>;

  constructor(connection: Connection) {
    this.model = connection.model<AppDoc>('App', appSchema);
  }

  async insert({ appId, ...rest }: AppRecord): Promise<boolean> {
    try {
      await rawCollection(this.model).insertOne({ _id: appId, ...rest } as AppDoc);
      return true;
    } catch (err) {
      if (isDuplicateKeyError(err)) return false;
      throw err;
    }
  }

  async get(appId: string): Promise<AppRecord | null> {
    const doc = await this.model.findById(appId).lean<AppDoc>();
    return doc ? toRecord(doc) : null;
  }

  async findByIngestKeyHash(hash: string): Promise<AppRecord | null> {
    const doc = await this.model.findOne({ ingestKeyHash: hash }).lean<AppDoc>();
    return doc ? toRecord(doc) : null;
  }

  async list(appIds?: readonly string[]): Promise<AppRecord[]> {
    const filter = appIds && appIds.length > 0 ? { _id: { $in: [...appIds] } } : {};
    const docs = await this.model.find(filter).sort({ _id: 1 }).lean<AppDoc[]>();
    return docs.map(toRecord);
  }

  async setSigningPublicKey(appId: string, pem: string | null): Promise<boolean> {
    const collection = rawCollection(this.model);
    const result =
      pem === null
        ? await collection.updateOne({ _id: appId }, { $unset: { signingPublicKey: '' } })
        : await collection.updateOne({ _id: appId }, { $set: { signingPublicKey: pem } });
    return result.matchedCount === 1;
  }

  async setGuardDefaults(appId: string, defaults: Record<string, unknown>): Promise<boolean> {
    const result = await rawCollection(this.model).updateOne({ _id: appId }, { $set: { guardDefaults: defaults } });
    return result.matchedCount === 1;
  }
}
