import { sign, verify, type KeyObject } from 'node:crypto';
import { Schema, type Connection, type Model } from 'mongoose';
import { isDuplicateKeyError, rawCollection } from '../connections.js';
import { canonicalJson } from '../crypto/canonical-json.js';
import { sha256Hex } from '../crypto/keys.js';
import { markPidCollection } from './pid-registry.js';

export const RECEIPT_GENESIS_HASH = '0'.repeat(64);

/** What an erasure receipt states. Signed as canonical JSON (keys sorted), exactly as served. */
export interface ErasureReceipt {
  version: 1;
  seq: number;
  requestId: string;
  appId: string;
  /** The subject's pseudonym, as it appears in the suppression list that now refuses the device. */
  pid: string;
  jurisdiction: string;
  receivedAt: string;
  suppressedAt: string;
  issuedAt: string;
  /** Records deleted, per collection. */
  erased: Record<string, number>;
  /** Collections whose records of the subject are kept, with the legal basis. */
  kept: Array<{ collection: string; records: number; legalBasis: string }>;
  /** Every erased collection was counted again after deleting and held zero records of the subject. */
  verifiedEmpty: string[];
  keyId: string;
  prevHash: string;
}

export interface SignedReceipt {
  receipt: ErasureReceipt;
  /** SHA-256 of canonicalJson(receipt); the next receipt's prevHash. */
  hash: string;
  /** Ed25519 over canonicalJson(receipt), base64. */
  signature: string;
}

interface ReceiptDoc extends SignedReceipt {
  _id: number;
  requestId: string;
  appId: string;
  pid: string;
}

const receiptSchema = new Schema<ReceiptDoc>(
  {
    _id: { type: Number, required: true },
    requestId: { type: String, required: true },
    appId: { type: String, required: true },
    pid: { type: String, required: true },
    receipt: { type: Schema.Types.Mixed, required: true },
    hash: { type: String, required: true },
    signature: { type: String, required: true },
  },
  { versionKey: false, collection: 'privacy_receipts', minimize: false },
);
// One receipt per request: a retried job finds the receipt it already issued.
receiptSchema.index({ requestId: 1 }, { unique: true });
markPidCollection(receiptSchema, {
  category: 'erasure receipts',
  purpose: 'prove that and when the erasure was carried out (signed, hash-chained)',
  retention: 'kept while the app exists',
  source: 'issued by otaguard when the erasure completed',
  keepOnErasure: { legalBasis: 'GDPR Art. 5(2) and 17: proof that the erasure was carried out' },
});

export function keyIdOf(publicKey: KeyObject): string {
  return sha256Hex(publicKey.export({ type: 'spki', format: 'der' })).slice(0, 16);
}

export function verifyReceipt(signed: SignedReceipt, publicKey: KeyObject): boolean {
  const canonical = canonicalJson(signed.receipt);
  if (sha256Hex(canonical) !== signed.hash) return false;
  return verify(null, Buffer.from(canonical, 'utf8'), publicKey, Buffer.from(signed.signature, 'base64'));
}

/** Append-only, hash-chained, Ed25519-signed erasure receipts (collection `privacy_receipts`). */
export class ReceiptBook {
  readonly model: Model<ReceiptDoc>;
  readonly keyId: string;

  constructor(
    connection: Connection,
    private readonly keys: { privateKey: KeyObject; publicKey: KeyObject },
  ) {
    this.model = connection.model<ReceiptDoc>('PrivacyReceipt', receiptSchema);
    this.keyId = keyIdOf(keys.publicKey);
  }

  get publicKey(): KeyObject {
    return this.keys.publicKey;
  }

  async forRequest(requestId: string): Promise<SignedReceipt | null> {
    const doc = await rawCollection(this.model).findOne({ requestId });
    return doc ? { receipt: doc.receipt, hash: doc.hash, signature: doc.signature } : null;
  }

  /** Issues the request's receipt, or returns the one already issued (idempotent for retried jobs). */
  async issue(body: Omit<ErasureReceipt, 'version' | 'seq' | 'keyId' | 'prevHash'>): Promise<SignedReceipt> {
    for (let attempt = 0; attempt < 50; attempt++) {
      const existing = await this.forRequest(body.requestId);
      if (existing) return existing;
      const [head] = await rawCollection(this.model).find({}, { projection: { _id: 1, hash: 1 } }).sort({ _id: -1 }).limit(1).toArray();
      const receipt: ErasureReceipt = {
        version: 1,
        ...body,
        seq: (head?._id ?? 0) + 1,
        keyId: this.keyId,
        prevHash: head?.hash ?? RECEIPT_GENESIS_HASH,
      };
      const canonical = canonicalJson(receipt);
      const signed: SignedReceipt = {
        receipt,
        hash: sha256Hex(canonical),
        signature: sign(null, Buffer.from(canonical, 'utf8'), this.keys.privateKey).toString('base64'),
      };
      try {
        await rawCollection(this.model).insertOne({ _id: receipt.seq, requestId: body.requestId, appId: body.appId, pid: body.pid, ...signed });
        return signed;
      } catch (err) {
        // Another process took this seq (or issued this request's receipt): re-read and try again.
        if (!isDuplicateKeyError(err)) throw err;
      }
    }
    throw new Error('receipt chain append kept losing the race');
  }

  /** Walks the chain in order: every signature valid and every prevHash the previous hash. */
  async verifyChain(): Promise<{ valid: boolean; checked: number; firstBrokenAt?: number }> {
    let prevHash = RECEIPT_GENESIS_HASH;
    let checked = 0;
    for await (const doc of rawCollection(this.model).find({}).sort({ _id: 1 })) {
      const signed = { receipt: doc.receipt, hash: doc.hash, signature: doc.signature };
      if (doc.receipt.seq !== checked + 1 || doc.receipt.prevHash !== prevHash || !verifyReceipt(signed, this.keys.publicKey)) {
        return { valid: false, checked, firstBrokenAt: checked + 1 };
      }
      prevHash = doc.hash;
      checked++;
    }
    return { valid: true, checked };
  }
}
