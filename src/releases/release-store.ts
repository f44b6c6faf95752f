import { Schema, type Connection, type Model } from 'mongoose';
import { isDuplicateKeyError, rawCollection } from '../connections.js';

export interface ReleaseRecord {
  id: string;
  appId: string;
  version: string;
  bundleUrl: string;
  /** Lowercase hex SHA-256 of the bundle. */
  sha256: string;
  /** Base64 Ed25519 signature over the sha256 hex, verified against the app's key when it has one. */
  signature?: string;
  minNativeVersion?: string;
  maxNativeVersion?: string;
  notes?: string;
  createdBy: string;
  createdAt: Date;
}

export interface ReleaseStore {
  /** false when the app already has this version. */
  insert(release: ReleaseRecord): Promise<boolean>;
  get(appId: string, version: string): Promise<ReleaseRecord | null>;
  /** Newest first. */
  list(appId: string, limit: number): Promise<ReleaseRecord[]>;
}

interface ReleaseDoc extends Omit<ReleaseRecord, 'id'> {
  _id: string;
}

const releaseSchema = new Schema<ReleaseDoc>(
  {
    _id: { type: String, required: true },
    appId: { type: String, required: true },
    version: { type: String, required: true },
    bundleUrl: { type: String, required: true },
    sha256: { type: String, required: true },
    signature: String,
    minNativeVersion: String,
    maxNativeVersion: String,
    notes: String,
    createdBy: { type: String, required: true },
    createdAt: { type: Date, required: true },
  },
  { versionKey: false, collection: 'releases' },
);
// Versions are unique per app; the update check and rollout creation look releases up by (app, version).
releaseSchema.index({ appId: 1, version: 1 }, { unique: true });
// Listing an app's releases, newest first.
releaseSchema.index({ appId: 1, createdAt: -1 });

const toRecord = ({ _id, ...rest }: ReleaseDoc): ReleaseRecord => ({ id: _id, ...rest });

export class MongoReleaseStore implements ReleaseStore {
  readonly model: Model<ReleaseDoc>;

  constructor(connection: Connection) {
    this.model = connection.model<ReleaseDoc>('Release', releaseSchema);
  }

  async insert({ id, ...rest }: ReleaseRecord): Promise<boolean> {
    try {
      await rawCollection(this.model).insertOne({ _id: id, ...rest });
      return true;
    } catch (err) {
      if (isDuplicateKeyError(err)) return false;
      throw err;
    }
  }

  async get(appId: string, version: string): Promise<ReleaseRecord | null> {
    const doc = await this.model.findOne({ appId, version }).lean<ReleaseDoc>();
    return doc ? toRecord(doc) : null;
  }

  async list(appId: string, limit: number): Promise<ReleaseRecord[]> {
    const docs = await this.model.find({ appId }).sort({ createdAt: -1 }).limit(limit).lean<ReleaseDoc[]>();
    return docs.map(toRecord);
  }
}
