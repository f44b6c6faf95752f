import { randomUUID } from 'node:crypto';
import { Schema, type Connection, type Model } from 'mongoose';
import type { AppService } from '../apps/app-service.js';
import { SYSTEM_ACTOR, type AuditLog } from '../audit/audit-log.js';
import type { Clock } from '../clock.js';
import { rawCollection } from '../connections.js';
import { oldestKeptBucket, type Granularity } from '../metrics/metric-definitions.js';
import { deleteAllMatching } from './bulk-delete.js';
import { DAY_MS } from './deadlines.js';
import type { ExportArchive } from './export-archive.js';
import { pidCollections } from './pid-registry.js';
import type { PrivacyRequestStore } from './privacy-request-store.js';

/** Raw data purged by age under each app's policy (AppRecord.retentionDays). README: record of processing. */
export const RETENTION_RULES = [{ collection: 'events', timeField: 'occurredAt' }] as const;

/** The granularities of aggregate counters that are purged by age (every app alike); day counters stay. */
const PURGED_GRANULARITIES = ['minute', 'hour'] as const satisfies readonly Granularity[];
type PurgedGranularity = (typeof PURGED_GRANULARITIES)[number];

export interface CounterPurge {
  purgeBefore(g: PurgedGranularity, before: number): Promise<number>;
}

export interface RetentionRun {
  id: string;
  startedAt: Date;
  finishedAt: Date;
  /**
   * One entry per (collection, retention period): the apps under it, the cutoff and what went; for
   * `metric_counters`, one per granularity (every app).
   */
  purged: Array<{ collection: string; granularity?: PurgedGranularity; retentionDays: number; appIds: string[]; cutoff: Date; deleted: number }>;
  exportsPurged: number;
  exportChunksDeleted: number;
  /** Duplicate-request markers whose window had ended. */
  claimsPurged: number;
}

interface RunDoc extends Omit<RetentionRun, 'id'> {
  _id: string;
}

const runSchema = new Schema<RunDoc>(
  {
    _id: { type: String, required: true },
    startedAt: { type: Date, required: true },
    finishedAt: { type: Date, required: true },
    purged: { type: Schema.Types.Mixed, default: [] },
    exportsPurged: { type: Number, required: true },
    exportChunksDeleted: { type: Number, required: true },
    claimsPurged: { type: Number, default: 0 },
  },
  { versionKey: false, collection: 'retention_runs', minimize: false },
);
// Newest runs first.
runSchema.index({ startedAt: -1 });

/** The scheduled purge: raw events past their app's retention and export archives past their expiry. */
export class RetentionService {
  readonly runs: Model<RunDoc>;

  constructor(
    private readonly deps: {
      connection: Connection;
      apps: AppService;
      store: PrivacyRequestStore;
      archive: ExportArchive;
      audit: AuditLog;
      clock: Clock;
      /** Set on FerretDB: the most documents one deleteMany may remove (see bulk-delete.ts). */
      deleteRangeSize?: number;
      /** Minute and hour metric counters, kept this many days by bucket start (day counters stay). */
      counters?: { store: CounterPurge; retentionDays: Record<PurgedGranularity, number> };
    },
  ) {
    this.runs = deps.connection.model<RunDoc>('RetentionRun', runSchema);
  }

  async purge(): Promise<RetentionRun> {
    const { connection, apps, store, archive, clock } = this.deps;
    const startedAt = clock.now();
    const byDays = new Map<number, string[]>();
    for (const app of await apps.list()) byDays.set(app.retentionDays, [...(byDays.get(app.retentionDays) ?? []), app.appId]);

    const purged: RetentionRun['purged'] = [];
    const registered = new Map(pidCollections(connection).map((c) => [c.collectionName, c]));
    for (const rule of RETENTION_RULES) {
      const collection = registered.get(rule.collection);
      if (!collection) continue;
      // One deleteMany per distinct retention period, not per app: each is a scan on FerretDB.
      for (const [retentionDays, appIds] of byDays) {
        const cutoff = new Date(startedAt.getTime() - retentionDays * DAY_MS);
        const filter = { appId: { $in: appIds }, [rule.timeField]: { $lt: cutoff } };
        const deleted = await deleteAllMatching(rawCollection(collection.model), filter, this.deps.deleteRangeSize);
        purged.push({ collection: rule.collection, retentionDays, appIds, cutoff, deleted });
      }
    }

    const { counters } = this.deps;
    if (counters) {
      const appIds = [...byDays.values()].flat();
      for (const granularity of PURGED_GRANULARITIES) {
        const retentionDays = counters.retentionDays[granularity];
        // Whole buckets, as the metrics API and reconciliation count them: nothing they treat as kept goes.
        const cutoff = new Date(oldestKeptBucket(counters.retentionDays, granularity, startedAt.getTime())!);
        const deleted = await counters.store.purgeBefore(granularity, cutoff.getTime());
        purged.push({ collection: 'metric_counters', granularity, retentionDays, appIds, cutoff, deleted });
      }
    }

    let exportChunksDeleted = 0;
    const expired = await store.expiredExports(startedAt);
    for (const request of expired) exportChunksDeleted += await archive.purge(request, clock.now());

    const claimsPurged = await store.purgeExpiredClaims(startedAt);

    const run: RetentionRun = {
      id: `ret_${randomUUID()}`,
      startedAt,
      finishedAt: clock.now(),
      purged,
      exportsPurged: expired.length,
      exportChunksDeleted,
      claimsPurged,
    };
    const { id, ...rest } = run;
    await rawCollection(this.runs).insertOne({ _id: id, ...rest });
    await this.deps.audit.record({
      actor: SYSTEM_ACTOR,
      action: 'retention.purge',
      target: `retention-run:${id}`,
      details: {
        purged: purged.map((p) => ({ ...p, cutoff: p.cutoff.toISOString(), appIds: p.appIds.length })),
        exportsPurged: expired.length,
        exportChunksDeleted,
        claimsPurged,
      },
    });
    return run;
  }

  async listRuns(limit: number): Promise<RetentionRun[]> {
    const docs = await rawCollection(this.runs).find({}).sort({ startedAt: -1 }).limit(limit).toArray();
    return docs.map(({ _id, ...rest }) => ({ id: _id, ...rest, purged: rest.purged ?? [], claimsPurged: rest.claimsPurged ?? 0 }));
  }
}
