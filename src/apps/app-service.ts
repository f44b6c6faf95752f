import type { Clock } from '../clock.js';
import { newSecret, sha256Hex } from '../crypto/keys.js';
import { ConflictError, NotFoundError, UnauthenticatedError } from '../errors.js';
import type { AppRecord, AppStore } from './app-store.js';

export const DEFAULT_RETENTION_DAYS = 90;
const INGEST_KEY_CACHE_MS = 30_000;

export class AppService {
  /** Device traffic authenticates on every request; the hash → app mapping changes only on key rotation. */
  private readonly byKeyHash = new Map<string, { app: AppRecord; until: number }>();

  constructor(
    private readonly apps: AppStore,
    private readonly clock: Clock,
  ) {}

  async create(input: { appId: string; name: string }): Promise<{ app: AppRecord; ingestKey: string }> {
    const ingestKey = newSecret('ogi');
    const app: AppRecord = {
      appId: input.appId,
      name: input.name,
      ingestKeyHash: sha256Hex(ingestKey),
      retentionDays: DEFAULT_RETENTION_DAYS,
      guardDefaults: {},
      createdAt: this.clock.now(),
    };
    if (!(await this.apps.insert(app))) {
      throw new ConflictError('app_exists', `An app with appId ${input.appId} already exists`, { field: 'body.appId' });
    }
    return { app, ingestKey };
  }

  async get(appId: string): Promise<AppRecord> {
    const app = await this.apps.get(appId);
    if (!app) throw new NotFoundError('App', { appId });
    return app;
  }

  async list(appIds?: readonly string[]): Promise<AppRecord[]> {
    return this.apps.list(appIds);
  }

  async setSigningPublicKey(appId: string, pem: string | null): Promise<void> {
    if (!(await this.apps.setSigningPublicKey(appId, pem))) throw new NotFoundError('App', { appId });
  }

  async setGuardDefaults(appId: string, defaults: Record<string, unknown>): Promise<void> {
    if (!(await this.apps.setGuardDefaults(appId, defaults))) throw new NotFoundError('App', { appId });
  }

  async authenticateIngestKey(secret: string | undefined): Promise<AppRecord> {
    if (!secret) throw new UnauthenticatedError('An ingest key is required (Authorization: Bearer <ingest key>)');
    const hash = sha256Hex(secret);
    const now = Date.now();
    const cached = this.byKeyHash.get(hash);
    if (cached && cached.until > now) return cached.app;
    const app = await this.apps.findByIngestKeyHash(hash);
    if (!app) throw new UnauthenticatedError('The ingest key is unknown');
    this.byKeyHash.set(hash, { app, until: now + INGEST_KEY_CACHE_MS });
    return app;
  }
}
