import { Schema, type Connection, type Model } from 'mongoose';
import { rawCollection } from '../connections.js';
import type { ApiRole } from './permissions.js';

export interface ApiKeyRecord {
  id: string;
  name: string;
  role: ApiRole;
  /** Empty = every app. */
  appIds: string[];
  /** Empty = every channel the role allows. */
  channels: string[];
  hash: string;
  createdAt: Date;
  expiresAt?: Date;
  revokedAt?: Date;
  lastUsedAt?: Date;
}

export interface ApiKeyStore {
  insert(record: ApiKeyRecord): Promise<void>;
  /** Inserts unless a key with this hash exists; true when it inserted. */
  insertIfAbsent(record: ApiKeyRecord): Promise<boolean>;
  findByHash(hash: string): Promise<ApiKeyRecord | null>;
  list(): Promise<ApiKeyRecord[]>;
  revoke(id: string, at: Date): Promise<boolean>;
  touch(id: string, at: Date): Promise<void>;
}

interface ApiKeyDoc extends Omit<ApiKeyRecord, 'id'> {
  _id: string;
}

const apiKeySchema = new Schema<ApiKeyDoc>(
  {
    _id: { type: String, required: true },
    name: { type: String, required: true },
    role: { type: String, required: true },
    appIds: { type: [String], default: [] },
    channels: { type: [String], default: [] },
    hash: { type: String, required: true },
    createdAt: { type: Date, required: true },
    expiresAt: Date,
    revokedAt: Date,
    lastUsedAt: Date,
  },
  { versionKey: false, collection: 'api_keys' },
);
// Every authenticated request looks its key up by hash.
apiKeySchema.index({ hash: 1 }, { unique: true });

/** Empty arrays may be absent in storage (FerretDB drops them from `$setOnInsert`); read them back as []. */
function toRecord({ _id, appIds, channels, ...rest }: ApiKeyDoc): ApiKeyRecord {
  return { id: _id, appIds: appIds ?? [], channels: channels ?? [], ...rest };
}

export class MongoApiKeyStore implements ApiKeyStore {
  readonly model: Model<ApiKeyDoc>;

  constructor(connection: Connection) {
    this.model = connection.model<ApiKeyDoc>('ApiKey', apiKeySchema);
  }

  async insert({ id, ...rest }: ApiKeyRecord): Promise<void> {
    await rawCollection(this.model).insertOne({ _id: id, ...rest } as ApiKeyDoc);
  }

  async insertIfAbsent({ id, ...rest }: ApiKeyRecord): Promise<boolean> {
    const result = await rawCollection(this.model).updateOne(
      { hash: rest.hash },
      { $setOnInsert: { _id: id, ...rest } },
      { upsert: true },
    );
    return result.upsertedCount === 1;
  }

  async findByHash(hash: string): Promise<ApiKeyRecord | null> {
    const doc = await this.model.findOne({ hash }).lean<ApiKeyDoc>();
    return doc ? toRecord(doc) : null;
  }

  async list(): Promise<ApiKeyRecord[]> {
    const docs = await this.model.find().sort({ createdAt: 1 }).lean<ApiKeyDoc[]>();
    return docs.map(toRecord);
  }

  async revoke(id: string, at: Date): Promise<boolean> {
    const result = await this.model.updateOne({ _id: id, revokedAt: { $exists: false } }, { $set: { revokedAt: at } });
    return result.modifiedCount === 1;
  }

  async touch(id: string, at: Date): Promise<void> {
    await this.model.updateOne({ _id: id }, { $max: { lastUsedAt: at } });
  }
}
