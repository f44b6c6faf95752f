import { GenerationCache, type Generations } from './generations.js';
import type { SuppressionStore } from './suppression-store.js';

/** The generation scope every suppression of an app advances (see MongoSuppressionStore.add). */
export const suppressionScope = (appId: string): string => `suppression:${appId}`;

/**
 * Ingest's suppression check, synchronous with every batch, with the database read only when it can
 * change the answer. Suppressions are rare and only ever added, and each one advances its app's
 * generation after it is durable and before an erasure deletes anything. So a device found not suppressed
 * under the generation read for this batch still is; and when the generation read after the write equals
 * the one read before the check, no suppression became durable in between — an erasure that starts later
 * deletes after the write, and finds its events itself. Anything else (a device not seen under this
 * generation, a moved generation, Redis not answering) reads the database.
 */
export class SuppressionGate {
  private readonly clear = new GenerationCache<true>();

  constructor(
    private readonly store: SuppressionStore,
    private readonly generations: Generations,
  ) {}

  /** The generation to pass to `suppressed` and `suppressedSince`; read before the check. */
  async token(appId: string): Promise<string | undefined> {
    return (await this.generations.read([suppressionScope(appId)]))?.[0];
  }

  /** The subset of `pids` suppressed for the app. */
  async suppressed(appId: string, pids: readonly string[], token: string | undefined): Promise<Set<string>> {
    if (token === undefined) return this.store.suppressed(appId, pids);
    const scope = suppressionScope(appId);
    const unknown = pids.filter((pid) => this.clear.get(scope, token, pid) === undefined);
    if (unknown.length === 0) return new Set();
    const found = await this.store.suppressed(appId, unknown);
    for (const pid of unknown) if (!found.has(pid)) this.clear.set(scope, token, pid, true);
    return found;
  }

  /** After a durable write: the pids suppressed since `token` was read (no database read while it holds). */
  async suppressedSince(appId: string, pids: readonly string[], token: string | undefined): Promise<Set<string>> {
    if (token !== undefined && (await this.token(appId)) === token) return new Set();
    return this.store.suppressed(appId, pids);
  }
}
