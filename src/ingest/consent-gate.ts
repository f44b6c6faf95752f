import type { ConsentStateStore } from './consent-store.js';
import { GenerationCache, type Generations } from './generations.js';

/**
 * Devices share a consent generation per bucket (4,096 per app: the pid's first three hex digits), so
 * Redis holds a bounded number of tokens however many devices there are; a decision makes the other
 * devices of its bucket read once more.
 */
export const consentScope = (appId: string, pid: string): string => `consent:${appId}:${pid.slice(0, 3)}`;

/**
 * Ingest's consent check for every batch, reading the database only when the answer can have changed.
 * ConsentService advances a device's generation after each decision is settled in `device_consents` and
 * before it answers. So an answer read after reading generation T holds while the generation is still
 * T: a withdrawal that was acknowledged has moved it, and the very next batch reads the database again.
 * Without Redis every batch reads the database.
 */
export class ConsentGate {
  private readonly answers = new GenerationCache<boolean>();

  constructor(
    private readonly states: Pick<ConsentStateStore, 'telemetryGranted'>,
    private readonly generations: Generations,
  ) {}

  /** The generations to pass to `granted`, per pid; read before the check. */
  async tokens(appId: string, pids: readonly string[]): Promise<Map<string, string> | undefined> {
    const read = await this.generations.read(pids.map((pid) => consentScope(appId, pid)));
    return read && new Map(pids.map((pid, i) => [pid, read[i]!]));
  }

  /** The pids whose latest `telemetry` decision is a grant. */
  async granted(appId: string, pids: readonly string[], tokens: Map<string, string> | undefined): Promise<Set<string>> {
    if (tokens === undefined) return this.states.telemetryGranted(appId, pids);
    const granted = new Set<string>();
    const unknown: string[] = [];
    for (const pid of pids) {
      const known = this.answers.get(consentScope(appId, pid), tokens.get(pid)!, pid);
      if (known === undefined) unknown.push(pid);
      else if (known) granted.add(pid);
    }
    if (unknown.length === 0) return granted;
    const read = await this.states.telemetryGranted(appId, unknown);
    for (const pid of unknown) {
      this.answers.set(consentScope(appId, pid), tokens.get(pid)!, pid, read.has(pid));
      if (read.has(pid)) granted.add(pid);
    }
    return granted;
  }
}
