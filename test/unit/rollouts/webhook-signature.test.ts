import { createHmac, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { SecretBox, signWebhook, verifyWebhook } from '../../../src/webhooks/webhook-signature.js';

describe('webhook signatures', () => {
  const secret = 'whsec_test';
  const body = JSON.stringify({ id: 'evt_1', type: 'incident.opened', data: { rolloutId: 'ro_1' } });

  it('is v1= hex HMAC-SHA256 over "timestamp.body", as a receiver computes it independently', () => {
    const expected = createHmac('sha256', secret).update(`1700000000.${body}`).digest('hex');
    expect(signWebhook(secret, 1700000000, body)).toBe(`v1=${expected}`);
  });

  it('verifies a fresh signature and refuses a changed body, a wrong secret or a stale timestamp', () => {
    const now = 1700000000;
    const signature = signWebhook(secret, now, body);
    expect(verifyWebhook(secret, { signature, timestamp: String(now) }, body, now + 10)).toBe(true);
    expect(verifyWebhook(secret, { signature, timestamp: String(now) }, `${body} `, now)).toBe(false);
    expect(verifyWebhook('other', { signature, timestamp: String(now) }, body, now)).toBe(false);
    expect(verifyWebhook(secret, { signature, timestamp: String(now) }, body, now + 301)).toBe(false);
    expect(verifyWebhook(secret, { signature, timestamp: String(now + 1) }, body, now)).toBe(false);
    expect(verifyWebhook(secret, { signature: undefined, timestamp: String(now) }, body, now)).toBe(false);
  });

  it('stores secrets sealed: unreadable without the key, recoverable with it', () => {
    const box = new SecretBox(randomBytes(32));
    const sealed = box.seal(secret);
    expect(sealed).not.toContain(secret);
    expect(box.open(sealed)).toBe(secret);
    expect(() => new SecretBox(randomBytes(32)).open(sealed)).toThrow();
  });
});
