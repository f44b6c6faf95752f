import { randomUUID } from 'node:crypto';
import type { Clock } from '../clock.js';
import { newSecret, sha256Hex } from '../crypto/keys.js';
import { ConflictError, ForbiddenError, NotFoundError, RateLimitedError, UnauthenticatedError, UnprocessableError } from '../errors.js';
import type { ApiKeyRecord, ApiKeyStore } from './api-key-store.js';
import type { AuthThrottle } from './auth-throttle.js';
import { allowedApps, allowedChannels, roleAllows, type ApiRole, type Permission } from './permissions.js';

export interface Principal {
  keyId: string;
  role: ApiRole;
  appIds: readonly string[];
  channels: readonly string[];
}

export interface Scope {
  appId?: string;
  channel?: string;
}

export interface NewApiKey {
  name: string;
  role: ApiRole;
  appIds?: string[];
  channels?: string[];
  expiresAt?: Date;
}

export type ApiKeyStatus = 'active' | 'revoked' | 'expired';

const TOUCH_INTERVAL_MS = 60_000;

/** `sub` lies within `outer` (undefined = everything). */
function within(sub: readonly string[] | undefined, outer: readonly string[] | undefined): boolean {
  if (outer === undefined) return true;
  return sub !== undefined && sub.every((item) => outer.includes(item));
}

export class AccessService {
  private readonly lastTouched = new Map<string, number>();

  constructor(
    private readonly keys: ApiKeyStore,
    private readonly clock: Clock,
    private readonly throttle?: AuthThrottle,
  ) {}

  /**
   * Makes sure the key from BOOTSTRAP_ADMIN_KEY exists as an admin key. Safe to call from every process.
   * Looked up by hash, so a revoked bootstrap key stays revoked across restarts.
   */
  async ensureBootstrapKey(secret: string): Promise<void> {
    await this.keys.insertIfAbsent({
      id: `key_${randomUUID()}`,
      name: 'bootstrap admin',
      role: 'admin',
      appIds: [],
      channels: [],
      hash: sha256Hex(secret),
      createdAt: this.clock.now(),
    });
  }

  /**
   * The secret is returned here and never again; only its SHA-256 is stored (the secret has 256 random
   * bits, so a fast hash is enough). A scoped admin can only mint keys inside its own scope.
   */
  async createKey(creator: Principal | undefined, input: NewApiKey): Promise<{ record: ApiKeyRecord; secret: string }> {
    const appIds = [...new Set(input.appIds ?? [])];
    const channels = [...new Set(input.channels ?? [])];
    if (input.expiresAt && input.expiresAt <= this.clock.now()) {
      throw new UnprocessableError('expiry_in_past', 'expiresAt must be in the future', { field: 'body.expiresAt' });
    }
    if (creator) {
      const candidate = { role: input.role, appIds, channels };
      if (!within(allowedApps(candidate), allowedApps(creator)) || !within(allowedChannels(candidate), allowedChannels(creator))) {
        throw new ForbiddenError('A key cannot grant a scope wider than its own');
      }
    }
    const secret = newSecret('oga');
    const record: ApiKeyRecord = {
      id: `key_${randomUUID()}`,
      name: input.name,
      role: input.role,
      appIds,
      channels,
      hash: sha256Hex(secret),
      createdAt: this.clock.now(),
      ...(input.expiresAt ? { expiresAt: input.expiresAt } : {}),
    };
    await this.keys.insert(record);
    return { record, secret };
  }

  /**
   * Every call reads the key from the database (no cache), so a revocation in any process takes effect on
   * the next request everywhere. A `source` the failure throttle has blocked gets 429 whatever key it
   * sends, so a right guess looks like a wrong one. Failures are counted where every 401 passes, in
   * `countAuthFailures` (src/access/auth-failure-counter.ts).
   */
  async authenticate(secret: string | undefined, source?: string): Promise<Principal> {
    const hash = secret ? sha256Hex(secret) : undefined;
    const [blocked, record] = await Promise.all([
      this.throttle && source !== undefined ? this.throttle.blockedFor(source) : 0,
      hash ? this.keys.findByHash(hash) : null,
    ]);
    if (blocked > 0) throw new RateLimitedError('Too many failed authentications from this source', blocked);
    const now = this.clock.now();
    if (!record || this.statusOf(record, now) !== 'active') {
      throw secret ? new UnauthenticatedError('The API key is unknown, revoked or expired') : new UnauthenticatedError();
    }
    this.touchLater(record.id, now);
    return { keyId: record.id, role: record.role, appIds: record.appIds, channels: record.channels };
  }

  /** Throws ForbiddenError unless the principal's role grants `permission` within `scope`. */
  authorize(principal: Principal, permission: Permission, scope: Scope = {}): void {
    if (!roleAllows(principal.role, permission)) {
      throw new ForbiddenError(`Role ${principal.role} may not ${permission}`);
    }
    if (scope.appId !== undefined && !this.canUseApp(principal, scope.appId)) {
      throw new ForbiddenError('This key is not scoped to that app');
    }
    if (scope.channel !== undefined) this.assertChannel(principal, scope.channel);
  }

  canUseApp(principal: Principal, appId: string): boolean {
    const apps = allowedApps(principal);
    return apps === undefined || apps.includes(appId);
  }

  canUseChannel(principal: Principal, channel: string): boolean {
    const channels = allowedChannels(principal);
    return channels === undefined || channels.includes(channel);
  }

  /** For operations that span every app (e.g. verifying the whole audit chain): scoped keys may not. */
  assertUnscoped(principal: Principal): void {
    if (principal.appIds.length > 0 || principal.channels.length > 0) {
      throw new ForbiddenError('This operation spans every app; use a key without app or channel scope');
    }
  }

  /** For operations whose channel is known only after a lookup (e.g. a rollout by id). */
  assertChannel(principal: Principal, channel: string): void {
    if (!this.canUseChannel(principal, channel)) throw new ForbiddenError('This key is not scoped to that channel');
  }

  statusOf(record: ApiKeyRecord, now = this.clock.now()): ApiKeyStatus {
    if (record.revokedAt) return 'revoked';
    if (record.expiresAt && record.expiresAt <= now) return 'expired';
    return 'active';
  }

  /** Keys the viewer's scope covers; an unscoped admin sees all. */
  async list(viewer?: Principal): Promise<ApiKeyRecord[]> {
    const all = await this.keys.list();
    return viewer ? all.filter((key) => this.covers(viewer, key)) : all;
  }

  /**
   * Revokes at once. A key outside the caller's scope is "not found", so scoped admins learn nothing of
   * other keys. The last active unscoped admin key cannot be revoked: that would lock everyone out.
   * Returns false when the key was already revoked.
   */
  async revoke(viewer: Principal | undefined, id: string): Promise<boolean> {
    const all = await this.keys.list();
    const key = all.find((k) => k.id === id);
    if (!key || (viewer && !this.covers(viewer, key))) throw new NotFoundError('API key', { id });
    if (key.revokedAt) return false;
    const now = this.clock.now();
    const isRoot = (k: ApiKeyRecord): boolean => k.role === 'admin' && k.appIds.length === 0 && k.channels.length === 0;
    if (isRoot(key) && !all.some((k) => k.id !== id && isRoot(k) && this.statusOf(k, now) === 'active')) {
      throw new ConflictError('last_admin_key', 'This is the last active unscoped admin key; create another before revoking it');
    }
    return this.keys.revoke(id, now);
  }

  private covers(viewer: Principal, key: ApiKeyRecord): boolean {
    return within(allowedApps(key), allowedApps(viewer)) && within(allowedChannels(key), allowedChannels(viewer));
  }

  /** Last-used time is advisory: written at most once a minute per key and process, off the request path. */
  private touchLater(id: string, now: Date): void {
    const last = this.lastTouched.get(id) ?? 0;
    if (now.getTime() - last < TOUCH_INTERVAL_MS) return;
    this.lastTouched.set(id, now.getTime());
    this.keys.touch(id, now).catch(() => this.lastTouched.delete(id));
  }
}
