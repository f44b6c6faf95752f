import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createDeflateRaw, crc32 } from 'node:zlib';
import type { ExportChunkStore } from './export-chunk-store.js';
import type { ExportPart } from './privacy-types.js';

export const CHUNK_BYTES = 1 << 20;
/** Small writes are gathered to this size before they enter the deflate stream. */
const GATHER_BYTES = 64 * 1024;

/** The AES-256-GCM additional data binds each part's ciphertext to its request and file name. */
const aad = (requestId: string, file: string): Buffer => Buffer.from(`otaguard-export/${requestId}/${file}`, 'utf8');

/** Buffers ciphertext to 1 MiB and stores each chunk before accepting more: memory stays flat. */
class ChunkSink extends Writable {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  chunks = 0;
  bytes = 0;

  constructor(
    private readonly chunkStore: ExportChunkStore,
    private readonly requestId: string,
    private readonly file: string,
  ) {
    super();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (err?: Error | null) => void): void {
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    this.bytes += chunk.length;
    if (this.pendingBytes < CHUNK_BYTES) return done();
    this.saveFull().then(() => done(), done);
  }

  override _final(done: (err?: Error | null) => void): void {
    this.saveFull()
      .then(() => (this.pendingBytes > 0 ? this.save(Buffer.concat(this.pending)) : undefined))
      .then(() => done(), done);
  }

  private async saveFull(): Promise<void> {
    while (this.pendingBytes >= CHUNK_BYTES) {
      const all = Buffer.concat(this.pending);
      const rest = all.subarray(CHUNK_BYTES);
      await this.save(all.subarray(0, CHUNK_BYTES));
      this.pending = rest.length > 0 ? [rest] : [];
      this.pendingBytes = rest.length;
    }
  }

  private async save(data: Buffer): Promise<void> {
    await this.chunkStore.put(this.requestId, this.file, this.chunks, data);
    this.chunks++;
    this.pending = [];
    this.pendingBytes = 0;
  }
}

/**
 * One export file: text in → deflate → AES-256-GCM → 1 MiB chunks in the database. `write` waits when
 * the database is slower than the cursor, so a device with 100k records never sits in memory at once.
 */
export class ExportPartWriter {
  private readonly deflate = createDeflateRaw({ level: 1 });
  private readonly iv = randomBytes(12);
  private readonly cipher;
  private readonly sink: ChunkSink;
  private readonly done: Promise<void>;
  private gathered: string[] = [];
  private gatheredBytes = 0;
  private crc = 0;
  private size = 0;
  private failure: unknown;

  constructor(
    private readonly chunkStore: ExportChunkStore,
    key: Buffer,
    private readonly requestId: string,
    readonly file: string,
  ) {
    this.cipher = createCipheriv('aes-256-gcm', key, this.iv);
    this.cipher.setAAD(aad(requestId, file));
    this.sink = new ChunkSink(chunkStore, requestId, file);
    this.done = pipeline(this.deflate, this.cipher, this.sink);
    this.done.catch((err: unknown) => (this.failure = err));
  }

  async write(text: string): Promise<void> {
    this.gathered.push(text);
    this.gatheredBytes += text.length;
    if (this.gatheredBytes >= GATHER_BYTES) await this.flush();
  }

  /** `resumed`: an earlier attempt may have written more chunks of this file; delete those. */
  async end(resumed = false): Promise<ExportPart> {
    await this.flush();
    this.deflate.end();
    await this.done;
    if (resumed) await this.chunkStore.deleteFrom(this.requestId, this.file, this.sink.chunks);
    return {
      file: this.file,
      size: this.size,
      compressedSize: this.sink.bytes,
      crc32: this.crc >>> 0,
      iv: this.iv.toString('base64'),
      tag: this.cipher.getAuthTag().toString('base64'),
      chunks: this.sink.chunks,
    };
  }

  private async flush(): Promise<void> {
    if (this.failure) throw this.failure;
    if (this.gathered.length === 0) return;
    const buf = Buffer.from(this.gathered.join(''), 'utf8');
    this.gathered = [];
    this.gatheredBytes = 0;
    this.crc = crc32(buf, this.crc);
    this.size += buf.length;
    if (!this.deflate.write(buf)) {
      await new Promise<void>((resolve, reject) => {
        this.deflate.once('drain', resolve);
        this.done.catch(reject);
      });
    }
  }
}

/** Yields a stored part's deflate stream, decrypted chunk by chunk; the GCM tag is checked at the end. */
export async function* decryptPart(
  chunkStore: ExportChunkStore,
  key: Buffer,
  requestId: string,
  part: ExportPart,
): AsyncGenerator<Buffer> {
  const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(part.iv, 'base64'));
  decipher.setAAD(aad(requestId, part.file));
  decipher.setAuthTag(Buffer.from(part.tag, 'base64'));
  for (let seq = 0; seq < part.chunks; seq++) {
    const chunk = await chunkStore.get(requestId, part.file, seq);
    if (!chunk) throw new Error(`export chunk ${seq} of ${part.file} is missing`);
    const plain = decipher.update(chunk);
    if (plain.length > 0) yield plain;
  }
  const last = decipher.final();
  if (last.length > 0) yield last;
}
