import { createPublicKey, sign, verify } from 'node:crypto';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../../../src/crypto/canonical-json.js';
import { KeyRing, sha256Hex } from '../../../src/crypto/keys.js';
import { keyIdOf, verifyReceipt, type ErasureReceipt } from '../../../src/privacy/receipts.js';

const keys = new KeyRing(Buffer.alloc(32, 7)).signingKey('privacy-receipts');
const receipt: ErasureReceipt = {
  version: 1,
  seq: 3,
  requestId: 'prq_00000000-0000-0000-0000-000000000001',
  appId: 'com.example.app',
  pid: 'a'.repeat(64),
  jurisdiction: 'gdpr',
  receivedAt: '2026-01-01T00:00:00.000Z',
  suppressedAt: '2026-01-01T00:01:00.000Z',
  issuedAt: '2026-01-01T00:02:00.000Z',
  erased: { events: 120, devices: 1 },
  kept: [{ collection: 'suppressions', records: 1, legalBasis: 'Art. 17(3)(b)' }],
  verifiedEmpty: ['devices', 'events'],
  keyId: keyIdOf(keys.publicKey),
  prevHash: 'b'.repeat(64),
};
const canonical = canonicalJson(receipt);
const signed = { receipt, hash: sha256Hex(canonical), signature: sign(null, Buffer.from(canonical), keys.privateKey).toString('base64') };

/** The verifier printed in the README, character for character. */
function readmeSnippet(): (v: unknown) => string {
  const readme = readFileSync('README.md', 'utf8');
  const line = readme.split('\n').findIndex((l) => l.startsWith('const canon = (v) =>'));
  expect(line).toBeGreaterThan(0);
  const source = `${readme.split('\n').slice(line, line + 3).join('\n')}\nreturn canon;`;
  return new Function(source)() as (v: unknown) => string;
}

describe('erasure receipts', () => {
  it('verify with the public key; any edit to the receipt, hash or signature fails', () => {
    expect(verifyReceipt(signed, keys.publicKey)).toBe(true);
    const edited = structuredClone(signed);
    edited.receipt.erased.events = 119;
    expect(verifyReceipt(edited, keys.publicKey)).toBe(false);
    edited.hash = sha256Hex(canonicalJson(edited.receipt));
    expect(verifyReceipt(edited, keys.publicKey)).toBe(false);
    const relinked = structuredClone(signed);
    relinked.receipt.prevHash = 'c'.repeat(64);
    expect(verifyReceipt(relinked, keys.publicKey)).toBe(false);
    const otherKey = new KeyRing(Buffer.alloc(32, 8)).signingKey('privacy-receipts').publicKey;
    expect(verifyReceipt(signed, otherKey)).toBe(false);
  });

  it('the README verifier canonicalises exactly like the signer and verifies a real receipt', () => {
    const readmeCanonical = readmeSnippet();
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        expect(readmeCanonical(value)).toBe(canonicalJson(value));
      }),
    );
    const pem = String(keys.publicKey.export({ type: 'spki', format: 'pem' }));
    expect(verify(null, Buffer.from(readmeCanonical(JSON.parse(JSON.stringify(receipt)))), createPublicKey(pem), Buffer.from(signed.signature, 'base64'))).toBe(true);
  });
});
