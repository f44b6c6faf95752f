import type { Clock } from '../clock.js';
import { ConflictError } from '../errors.js';
import type { ArchiveDownload, ExportArchive } from './export-archive.js';
import type { PrivacyService, Viewer } from './privacy-service.js';
import type { ReceiptBook, SignedReceipt } from './receipts.js';

export interface ReceiptKey {
  algorithm: 'Ed25519';
  keyId: string;
  /** SPKI, PEM. */
  publicKeyPem: string;
  publicKeyJwk: { kty: string; crv: string; x: string };
}

/** What a request produces for its subject: the export archive and the erasure receipt. */
export class PrivacyDocuments {
  constructor(
    private readonly deps: { requests: PrivacyService; archive: ExportArchive; receipts: ReceiptBook; clock: Clock },
  ) {}

  async exportArchive(id: string, viewer: Viewer): Promise<ArchiveDownload> {
    const request = await this.deps.requests.get(id, viewer);
    if (request.type !== 'access' && request.type !== 'export') {
      throw new ConflictError('no_export', `A ${request.type} request has no export`);
    }
    const info = request.export;
    if (!info || request.status !== 'completed') throw new ConflictError('export_not_ready', `The export is not ready (status ${request.status})`);
    if (info.purgedAt || info.expiresAt <= this.deps.clock.now()) {
      throw new ConflictError('export_expired', `The export expired at ${info.expiresAt.toISOString()}; file a new request`);
    }
    return this.deps.archive.download(request);
  }

  async receipt(id: string, viewer: Viewer): Promise<SignedReceipt> {
    const request = await this.deps.requests.get(id, viewer);
    if (request.type !== 'delete') throw new ConflictError('no_receipt', `A ${request.type} request has no erasure receipt`);
    const signed = request.status === 'completed' ? await this.deps.receipts.forRequest(id) : null;
    if (!signed) throw new ConflictError('receipt_not_ready', `The receipt is not issued yet (status ${request.status})`);
    return signed;
  }

  receiptKey(): ReceiptKey {
    const key = this.deps.receipts.publicKey;
    const jwk = key.export({ format: 'jwk' }) as { kty: string; crv: string; x: string };
    return {
      algorithm: 'Ed25519',
      keyId: this.deps.receipts.keyId,
      publicKeyPem: String(key.export({ type: 'spki', format: 'pem' })),
      publicKeyJwk: { kty: jwk.kty, crv: jwk.crv, x: jwk.x },
    };
  }
}
