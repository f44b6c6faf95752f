import { randomUUID } from 'node:crypto';
import type { AppService } from '../apps/app-service.js';
import type { Clock } from '../clock.js';
import { ConflictError, NotFoundError, UnprocessableError } from '../errors.js';
import { compareVersions } from './native-version.js';
import { parseEd25519PublicKey, toPem, verifyReleaseSignature } from './release-signature.js';
import type { ReleaseRecord, ReleaseStore } from './release-store.js';

/** What a caller supplies; the rest of the record (id, app, author, time) the service fills in. */
export type CreateReleaseInput = Pick<
  ReleaseRecord,
  'version' | 'bundleUrl' | 'sha256' | 'signature' | 'minNativeVersion' | 'maxNativeVersion' | 'notes'
>;

export class ReleaseService {
  constructor(
    private readonly releases: ReleaseStore,
    private readonly apps: AppService,
    private readonly clock: Clock,
  ) {}

  /** Refuses (422) a release whose signature does not verify when the app has a signing key. */
  async create(appId: string, input: CreateReleaseInput, actor: string): Promise<ReleaseRecord> {
    const app = await this.apps.get(appId);
    const sha256 = input.sha256.toLowerCase();
    if (app.signingPublicKey) {
      const key = parseEd25519PublicKey(app.signingPublicKey);
      if (!key) throw new UnprocessableError('signing_key_invalid', 'The app signing key cannot be read; set it again');
      if (!input.signature) {
        throw new UnprocessableError('signature_required', 'This app has a signing key: the release needs a signature', { field: 'body.signature' });
      }
      if (!verifyReleaseSignature(key, sha256, input.signature)) {
        throw new UnprocessableError('signature_invalid', 'The signature does not verify over sha256 with the app signing key', {
          field: 'body.signature',
        });
      }
    }
    if (input.minNativeVersion && input.maxNativeVersion && compareVersions(input.minNativeVersion, input.maxNativeVersion) > 0) {
      throw new UnprocessableError('native_bounds_invalid', 'minNativeVersion is above maxNativeVersion', { field: 'body.minNativeVersion' });
    }
    const release: ReleaseRecord = {
      id: `rel_${randomUUID()}`,
      appId,
      version: input.version,
      bundleUrl: input.bundleUrl,
      sha256,
      ...(input.signature ? { signature: input.signature } : {}),
      ...(input.minNativeVersion ? { minNativeVersion: input.minNativeVersion } : {}),
      ...(input.maxNativeVersion ? { maxNativeVersion: input.maxNativeVersion } : {}),
      ...(input.notes ? { notes: input.notes } : {}),
      createdBy: actor,
      createdAt: this.clock.now(),
    };
    if (!(await this.releases.insert(release))) {
      throw new ConflictError('release_exists', `Version ${input.version} already exists for this app`, { field: 'body.version' });
    }
    return release;
  }

  async get(appId: string, version: string): Promise<ReleaseRecord> {
    const release = await this.releases.get(appId, version);
    if (!release) throw new NotFoundError('Release', { appId, version });
    return release;
  }

  /** null when the version is not a release (e.g. the bundle embedded in the app binary). */
  async find(appId: string, version: string): Promise<ReleaseRecord | null> {
    return this.releases.get(appId, version);
  }

  async list(appId: string, limit = 100): Promise<ReleaseRecord[]> {
    await this.apps.get(appId);
    return this.releases.list(appId, limit);
  }

  /** Stores the key as PEM; null removes it (releases are then accepted unsigned). */
  async setSigningKey(appId: string, publicKey: string | null): Promise<string | null> {
    await this.apps.get(appId);
    let pem: string | null = null;
    if (publicKey !== null) {
      const key = parseEd25519PublicKey(publicKey);
      if (!key) {
        throw new UnprocessableError('signing_key_invalid', 'publicKey must be an Ed25519 public key (PEM, base64 SPKI or base64 raw 32 bytes)', {
          field: 'body.publicKey',
        });
      }
      pem = toPem(key);
    }
    await this.apps.setSigningPublicKey(appId, pem);
    return pem;
  }
}
