import { createPublicKey, verify, type KeyObject } from 'node:crypto';

/** DER prefix of an Ed25519 SubjectPublicKeyInfo; the 32 raw key bytes follow it. */
const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
const BASE64 = /^[A-Za-z0-9+/_-]+={0,2}$/;

/**
 * Parses an Ed25519 public key given as PEM, base64 DER SPKI or base64 raw 32 bytes.
 * Returns null for anything else (wrong algorithm included).
 */
export function parseEd25519PublicKey(text: string): KeyObject | null {
  const trimmed = text.trim();
  try {
    let key: KeyObject;
    if (trimmed.startsWith('-----BEGIN')) {
      key = createPublicKey({ key: trimmed, format: 'pem' });
    } else {
      if (!BASE64.test(trimmed)) return null;
      const der = Buffer.from(trimmed, 'base64');
      const spki = der.length === 32 ? Buffer.concat([ED25519_SPKI_PREFIX, der]) : der;
      key = createPublicKey({ key: spki, format: 'der', type: 'spki' });
    }
    return key.asymmetricKeyType === 'ed25519' ? key : null;
  } catch {
    return null;
  }
}

/** The canonical stored form: PEM, whatever form it arrived in. */
export function toPem(key: KeyObject): string {
  return key.export({ format: 'pem', type: 'spki' }).toString();
}

/**
 * A release signature is Ed25519 over the ASCII bytes of the bundle's lowercase hex SHA-256, sent as
 * base64 (or base64url). Signing the digest rather than the bundle lets CI sign without uploading it.
 */
export function verifyReleaseSignature(publicKey: KeyObject, sha256Hex: string, signature: string): boolean {
  if (!BASE64.test(signature)) return false;
  const raw = Buffer.from(signature, 'base64');
  if (raw.length !== 64) return false;
  try {
    return verify(null, Buffer.from(sha256Hex.toLowerCase(), 'ascii'), publicKey, raw);
  } catch {
    return false;
  }
}
