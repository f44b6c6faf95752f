import { Schema, mongo, type Connection, type Model } from 'mongoose';
import { rawCollection } from '../connections.js';

/**
 * Encrypted export bytes in chunks of at most 1 MiB, each addressed by `_id` only
 * (`<requestId>/<file>/<seq>`): FerretDB pushes down nothing but `_id` equality, so every read, write
 * and delete here is a primary-key operation on both backends, however many exports are stored.
 * Holds no pid and nothing readable without the export key.
 */
export interface ExportChunkStore {
  /** Idempotent (upsert): a resumed export rewrites the chunks of a part it had not finished. */
  put(requestId: string, file: string, seq: number, data: Buffer): Promise<void>;
  get(requestId: string, file: string, seq: number): Promise<Buffer | null>;
  /** Deletes chunks `fromSeq`, `fromSeq + 1`, … until one is missing; returns how many went. */
  deleteFrom(requestId: string, file: string, fromSeq: number): Promise<number>;
}

interface ChunkDoc {
  _id: string;
  data: mongo.Binary;
  at: Date;
}

const chunkSchema = new Schema<ChunkDoc>(
  {
    _id: { type: String, required: true },
    data: { type: Buffer, required: true },
    at: { type: Date, required: true },
  },
  { versionKey: false, collection: 'privacy_export_chunks' },
);

const chunkId = (requestId: string, file: string, seq: number): string => `${requestId}/${file}/${seq}`;

export class MongoExportChunkStore implements ExportChunkStore {
  readonly model: Model<ChunkDoc>;

  constructor(
    connection: Connection,
    private readonly now: () => Date = () => new Date(),
  ) {
    this.model = connection.model<ChunkDoc>('PrivacyExportChunk', chunkSchema);
  }

  async put(requestId: string, file: string, seq: number, data: Buffer): Promise<void> {
    const _id = chunkId(requestId, file, seq);
    await rawCollection(this.model).replaceOne({ _id }, { data: new mongo.Binary(data), at: this.now() }, { upsert: true });
  }

  async get(requestId: string, file: string, seq: number): Promise<Buffer | null> {
    const doc = await rawCollection(this.model).findOne({ _id: chunkId(requestId, file, seq) });
    if (!doc) return null;
    const data = doc.data as unknown as mongo.Binary | Buffer;
    return Buffer.isBuffer(data) ? data : Buffer.from(data.buffer.buffer, data.buffer.byteOffset, data.position);
  }

  async deleteFrom(requestId: string, file: string, fromSeq: number): Promise<number> {
    let deleted = 0;
    for (let seq = fromSeq; ; seq++) {
      const res = await rawCollection(this.model).deleteOne({ _id: chunkId(requestId, file, seq) });
      if (res.deletedCount === 0) return deleted;
      deleted++;
    }
  }
}
