import { createHmac, createPrivateKey, createPublicKey, hash, hkdfSync, randomBytes, type KeyObject } from 'node:crypto';

/**
 * Every secret otaguard uses is derived from MASTER_KEY with HKDF-SHA256, each under its own label,
 * so one secret in the environment (never in MongoDB) protects pseudonyms, exports and receipts.
 */
export class KeyRing {
  constructor(private readonly master: Buffer) {}

  derive(label: string, length = 32): Buffer {
    return Buffer.from(hkdfSync('sha256', this.master, Buffer.alloc(0), `otaguard/${label}`, length));
  }

  /** The per-app, per-version key behind device pseudonyms. */
  pseudonymKey(appId: string, keyVersion: number): Buffer {
    return this.derive(`pid/${keyVersion}/${appId}`);
  }

  /** Ed25519 signing key derived deterministically, so every process signs with the same key. */
  signingKey(label: string): { privateKey: KeyObject; publicKey: KeyObject } {
    const seed = this.derive(`ed25519/${label}`);
    // PKCS#8 prefix for an Ed25519 private key followed by the 32-byte seed.
    const der = Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), seed]);
    const privateKey = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
    return { privateKey, publicKey: createPublicKey(privateKey) };
  }
}

/** pid = HMAC-SHA256(appKey, "dev:" + deviceId), hex. The raw device id goes no further than this call. */
export function pseudonymize(appKey: Buffer, deviceId: string): string {
  return createHmac('sha256', appKey).update(`dev:${deviceId}`).digest('hex');
}

export function sha256Hex(value: string | Buffer): string {
  return hash('sha256', value, 'hex');
}

/** A random secret with a readable prefix, e.g. `oga_…` for API keys, `ogi_…` for ingest keys. */
export function newSecret(prefix: string): string {
  return `${prefix}_${randomBytes(32).toString('base64url')}`;
}
