import { randomUUID } from 'node:crypto';
import type { Clock } from '../clock.js';
import { newSecret, sha256Hex } from '../crypto/keys.js';
import { ForbiddenError, UnauthenticatedError } from '../errors.js';
import type { ApiKeyRecord, ApiKeyStore } from './api-key-store.js';
import { QA_DEFAULT_CHANNELS, roleAllows, type ApiRole, type Permission } from './permissions.js';

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

const TOUCH_INTERVAL_MS = 60_000;

export class AccessService {
  private readonly lastTouched = new Map<string, number>();

  constructor(
    private readonly keys: ApiKeyStore,
    private readonly clock: Clock,
  ) {}

  /** Makes sure the key from BOOTSTRAP_ADMIN_KEY exists as an admin key. Safe to call from every process. */
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

  async createKey(input: {
    name: string;
    role: ApiRole;
    appIds?: string[];
    channels?: string[];
    expiresAt?: Date;
  }): Promise<{ record: ApiKeyRecord; secret: string }> {
    const secret = newSecret('oga');
    const record: ApiKeyRecord = {
      id: `key_${randomUUID()}`,
      name: input.name,
      role: input.role,
      appIds: input.appIds ?? [],
      channels: input.channels ?? [],
      hash: sha256Hex(secret),
      createdAt: this.clock.now(),
      ...(input.expiresAt ? { expiresAt: input.expiresAt } : {}),
    };
    await this.keys.insert(record);
    return { record, secret };
  }

  async authenticate(secret: string | undefined): Promise<Principal> {
    if (!secret) throw new UnauthenticatedError();
    const record = await this.keys.findByHash(sha256Hex(secret));
    const now = this.clock.now();
    if (!record || record.revokedAt || (record.expiresAt && record.expiresAt <= now)) {
      throw new UnauthenticatedError('The API key is unknown, revoked or expired');
    }
    this.touchLater(record.id, now);
    return { keyId: record.id, role: record.role, appIds: record.appIds, channels: record.channels };
  }

  /** Throws ForbiddenError unless the principal's role grants `permission` within `scope`. */
  authorize(principal: Principal, permission: Permission, scope: Scope = {}): void {
    if (!roleAllows(principal.role, permission)) {
      throw new ForbiddenError(`Role ${principal.role} may not ${permission}`);
    }
    if (scope.appId !== undefined && principal.appIds.length > 0 && !principal.appIds.includes(scope.appId)) {
      throw new ForbiddenError('This key is not scoped to that app');
    }
    if (scope.channel !== undefined) {
      const allowed = principal.channels.length > 0 ? principal.channels : principal.role === 'qa' ? QA_DEFAULT_CHANNELS : [];
      if (allowed.length > 0 && !allowed.includes(scope.channel)) {
        throw new ForbiddenError('This key is not scoped to that channel');
      }
    }
  }

  async list(): Promise<ApiKeyRecord[]> {
    return this.keys.list();
  }

  async revoke(id: string): Promise<boolean> {
    return this.keys.revoke(id, this.clock.now());
  }

  /** Last-used time is advisory: written at most once a minute per key, off the request path. */
  private touchLater(id: string, now: Date): void {
    const last = this.lastTouched.get(id) ?? 0;
    if (now.getTime() - last < TOUCH_INTERVAL_MS) return;
    this.lastTouched.set(id, now.getTime());
    this.keys.touch(id, now).catch(() => this.lastTouched.delete(id));
  }
}
