import { describe, expect, it } from 'vitest';
import { AccessService, type Principal } from '../../../src/access/access-service.js';
import type { ApiKeyRecord, ApiKeyStore } from '../../../src/access/api-key-store.js';
import { MemoryAuthThrottle } from '../../../src/access/auth-throttle.js';
import { ManualClock } from '../../../src/clock.js';
import { ForbiddenError, RateLimitedError, UnauthenticatedError } from '../../../src/errors.js';

class MemoryKeyStore implements ApiKeyStore {
  readonly keys = new Map<string, ApiKeyRecord>();
  async insert(record: ApiKeyRecord) {
    this.keys.set(record.id, { ...record });
  }
  async insertIfAbsent(record: ApiKeyRecord) {
    if ([...this.keys.values()].some((k) => k.hash === record.hash)) return false;
    await this.insert(record);
    return true;
  }
  async findByHash(hash: string) {
    return [...this.keys.values()].find((k) => k.hash === hash) ?? null;
  }
  async list() {
    return [...this.keys.values()];
  }
  async revoke(id: string, at: Date) {
    const key = this.keys.get(id);
    if (!key || key.revokedAt) return false;
    key.revokedAt = at;
    return true;
  }
  async touch(id: string, at: Date) {
    const key = this.keys.get(id);
    if (key) key.lastUsedAt = at;
  }
}

const principal = (p: Partial<Principal>): Principal => ({ keyId: 'key_x', role: 'developer', appIds: [], channels: [], ...p });

describe('AccessService.authorize', () => {
  const access = new AccessService(new MemoryKeyStore(), new ManualClock());

  it('checks role, then app scope, then channel scope', () => {
    const dev = principal({ appIds: ['com.a.b'], channels: ['beta'] });
    expect(() => access.authorize(dev, 'rollouts:write', { appId: 'com.a.b', channel: 'beta' })).not.toThrow();
    expect(() => access.authorize(dev, 'rollouts:write', { appId: 'com.a.b', channel: 'production' })).toThrow(ForbiddenError);
    expect(() => access.authorize(dev, 'rollouts:write', { appId: 'com.other.app', channel: 'beta' })).toThrow(ForbiddenError);
    expect(() => access.authorize(dev, 'api-keys:manage')).toThrow(/may not api-keys:manage/);
  });

  it('limits unscoped QA to the default test channels, and leaves unscoped developers every channel', () => {
    expect(() => access.authorize(principal({ role: 'qa' }), 'rollouts:write', { channel: 'beta' })).not.toThrow();
    expect(() => access.authorize(principal({ role: 'qa' }), 'rollouts:write', { channel: 'production' })).toThrow(ForbiddenError);
    expect(() => access.authorize(principal({}), 'rollouts:write', { channel: 'production' })).not.toThrow();
  });
});

describe('AccessService keys', () => {
  it('refuses unknown and expired keys, and refuses every key from a blocked source', async () => {
    const clock = new ManualClock();
    const store = new MemoryKeyStore();
    const throttle = new MemoryAuthThrottle({ failures: 3, windowSeconds: 60, blockSeconds: 120 });
    const access = new AccessService(store, clock, throttle);
    const { record, secret } = await access.createKey(undefined, { name: 'k', role: 'monitoring', expiresAt: new Date(clock.now().getTime() + 1000) });
    await expect(access.authenticate(secret, 'a')).resolves.toMatchObject({ keyId: record.id });
    await expect(access.authenticate(undefined, 'a')).rejects.toBeInstanceOf(UnauthenticatedError);
    await expect(access.authenticate('wrong', 'b')).rejects.toBeInstanceOf(UnauthenticatedError);
    for (let i = 0; i < 3; i++) expect(await throttle.recordFailure('b')).toBe(0);
    expect(await throttle.recordFailure('b')).toBeGreaterThan(60);
    const blocked = await access.authenticate('wrong', 'b').catch((e: unknown) => e);
    expect(blocked).toBeInstanceOf(RateLimitedError);
    expect((blocked as RateLimitedError).retryAfterSeconds).toBeGreaterThan(60);
    await expect(access.authenticate(secret, 'b')).rejects.toBeInstanceOf(RateLimitedError);
    clock.advance(1000);
    await expect(access.authenticate(secret, 'a')).rejects.toBeInstanceOf(UnauthenticatedError);
  });

  it('never lets a scoped creator mint a wider key', async () => {
    const access = new AccessService(new MemoryKeyStore(), new ManualClock());
    const scoped = principal({ role: 'admin', appIds: ['com.a.b'], channels: ['beta'] });
    await expect(access.createKey(scoped, { name: 'n', role: 'developer' })).rejects.toBeInstanceOf(ForbiddenError);
    await expect(access.createKey(scoped, { name: 'n', role: 'developer', appIds: ['com.a.b'] })).rejects.toBeInstanceOf(ForbiddenError);
    await expect(access.createKey(scoped, { name: 'n', role: 'developer', appIds: ['com.a.b'], channels: ['beta'] })).resolves.toBeDefined();
    // An unscoped QA key means "the QA channels", which lies inside a creator limited to exactly those.
    const qaScoped = principal({ role: 'admin', channels: ['beta', 'test', 'qa', 'staging'] });
    await expect(access.createKey(qaScoped, { name: 'n', role: 'qa' })).resolves.toBeDefined();
  });
});
