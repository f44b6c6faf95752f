import { createHash, generateKeyPairSync, sign } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { compareVersions, nativeVersionAllowed } from '../../../src/releases/native-version.js';
import { parseEd25519PublicKey, toPem, verifyReleaseSignature } from '../../../src/releases/release-signature.js';

const { publicKey, privateKey } = generateKeyPairSync('ed25519');
const sha = createHash('sha256').update('bundle bytes').digest('hex');
const signature = sign(null, Buffer.from(sha, 'ascii'), privateKey).toString('base64');

describe('release signatures (Ed25519 over the sha256 hex)', () => {
  it('verifies a signature made with the matching private key, from PEM, base64 SPKI and raw key forms', () => {
    const pem = publicKey.export({ format: 'pem', type: 'spki' }).toString();
    const spki = publicKey.export({ format: 'der', type: 'spki' });
    const raw = spki.subarray(spki.length - 32);
    for (const form of [pem, spki.toString('base64'), raw.toString('base64')]) {
      const key = parseEd25519PublicKey(form);
      expect(key).not.toBeNull();
      expect(verifyReleaseSignature(key!, sha, signature)).toBe(true);
      expect(toPem(key!)).toBe(pem);
    }
  });

  it('refuses a signature over another digest, by another key, or malformed', () => {
    const key = parseEd25519PublicKey(publicKey.export({ format: 'pem', type: 'spki' }).toString())!;
    const otherSha = createHash('sha256').update('other bytes').digest('hex');
    expect(verifyReleaseSignature(key, otherSha, signature)).toBe(false);
    const other = generateKeyPairSync('ed25519');
    const foreign = sign(null, Buffer.from(sha, 'ascii'), other.privateKey).toString('base64');
    expect(verifyReleaseSignature(key, sha, foreign)).toBe(false);
    expect(verifyReleaseSignature(key, sha, 'not base64!')).toBe(false);
    expect(verifyReleaseSignature(key, sha, Buffer.alloc(10).toString('base64'))).toBe(false);
  });

  it('accepts the digest in upper case (it is normalised before verifying)', () => {
    const key = parseEd25519PublicKey(publicKey.export({ format: 'pem', type: 'spki' }).toString())!;
    expect(verifyReleaseSignature(key, sha.toUpperCase(), signature)).toBe(true);
  });

  it('refuses keys that are not Ed25519', () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 });
    expect(parseEd25519PublicKey(rsa.publicKey.export({ format: 'pem', type: 'spki' }).toString())).toBeNull();
    expect(parseEd25519PublicKey('garbage')).toBeNull();
  });
});

describe('native version bounds', () => {
  it('compares dotted versions numerically', () => {
    expect(compareVersions('1.10.0', '1.9.3')).toBeGreaterThan(0);
    expect(compareVersions('2.0', '2.0.0')).toBe(0);
    expect(compareVersions('2.0.0-beta', '2.0.0')).toBeLessThan(0);
  });

  it('keeps a release within its min/max native version', () => {
    expect(nativeVersionAllowed('5.1.0', { minNativeVersion: '5.0.0', maxNativeVersion: '5.9.9' })).toBe(true);
    expect(nativeVersionAllowed('4.9.0', { minNativeVersion: '5.0.0' })).toBe(false);
    expect(nativeVersionAllowed('6.0.0', { maxNativeVersion: '5.9.9' })).toBe(false);
    expect(nativeVersionAllowed('1.0.0', {})).toBe(true);
  });
});
