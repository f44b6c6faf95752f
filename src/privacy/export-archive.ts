import type { KeyRing } from '../crypto/keys.js';
import type { ExportChunkStore } from './export-chunk-store.js';
import { decryptPart } from './export-part-writer.js';
import type { PrivacyRequestStore } from './privacy-request-store.js';
import type { PrivacyRequest } from './privacy-types.js';
import { centralDirectory, localHeader, zipLayout } from './zip.js';

export interface ArchiveDownload {
  filename: string;
  length: number;
  body: AsyncIterable<Buffer>;
}

/** Export archives at rest: the per-request key, the zip served on download, and the purge. */
export class ExportArchive {
  constructor(
    private readonly chunks: ExportChunkStore,
    private readonly store: PrivacyRequestStore,
    private readonly keyRing: KeyRing,
  ) {}

  /** AES-256 key of one request's export, derived from MASTER_KEY: nothing in the database opens it. */
  keyFor(requestId: string): Buffer {
    return this.keyRing.derive(`export/${requestId}`);
  }

  /** The zip, streamed: each stored part is decrypted chunk by chunk behind its precomputed header. */
  download(request: PrivacyRequest): ArchiveDownload {
    const info = request.export;
    if (!info) throw new Error('download of a request without an export');
    const entries = info.parts.map((part) => ({ name: part.file, crc32: part.crc32, size: part.size, compressedSize: part.compressedSize }));
    const { offsets, length } = zipLayout(entries);
    const key = this.keyFor(request.id);
    const { chunks } = this;
    async function* body(): AsyncGenerator<Buffer> {
      for (const [i, part] of info!.parts.entries()) {
        yield localHeader(entries[i]!, info!.generatedAt);
        yield* decryptPart(chunks, key, request.id, part);
      }
      yield centralDirectory(entries, offsets, info!.generatedAt);
    }
    return { filename: `otaguard-export-${request.id}.zip`, length, body: body() };
  }

  /** Deletes every chunk of the request's export and marks it purged. Idempotent. */
  async purge(request: PrivacyRequest, at: Date): Promise<number> {
    // By planned file name, so a part a stopped or failed job left half-written goes too.
    const files = new Set(['manifest.json', ...(request.export?.parts ?? []).map((part) => part.file)]);
    for (const step of request.steps) {
      if (step.name.startsWith('export:')) for (const ext of ['json', 'csv']) files.add(`${step.name.slice('export:'.length)}.${ext}`);
    }
    let deleted = 0;
    for (const file of files) deleted += await this.chunks.deleteFrom(request.id, file, 0);
    if (request.export) await this.store.markExportPurged(request.id, at);
    return deleted;
  }
}
