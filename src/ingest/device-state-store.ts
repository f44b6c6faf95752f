import { Schema, type Connection, type Model } from 'mongoose';
import { duplicateKeyIndexes, rawCollection } from '../connections.js';
import { markPidCollection } from '../privacy/pid-registry.js';
import { WriteLane } from '../write-lane.js';
import { deleteByIds, type IdLookup } from './id-lookup.js';

/** The bundle the device last confirmed running (its newest `app_ready` by occurredAt). */
export interface CurrentBundle {
  at: Date;
  version: string;
  channel: string;
  platform: string;
}

/** What ingest last wrote about a device's activity, to skip writes that would change nothing. */
export interface DeviceSnapshot {
  pid: string;
  current?: CurrentBundle;
  firstSeen?: Date;
  lastSeen?: Date;
}

/** Accepted events of one device in one batch, folded: the UTC day they arrived and the newest app_ready. */
export interface DeviceActivity {
  pid: string;
  day: Date;
  current?: CurrentBundle;
  /** This process has not written the device yet (it may still be stored: by another process, or before a restart). */
  unseen?: boolean;
}

/** Per-device state (collection `devices`, `_id` = `${appId}:${pid}`). Consent lives in `device_consents`. */
export interface DeviceStateStore {
  /** Bulk upserts with commutative operators ($max/$min/$setOnInsert): replays and reorderings converge. */
  recordActivity(appId: string, activity: readonly DeviceActivity[]): Promise<void>;
  /** Deletes these devices' state (ingest's retraction of a batch that raced an erasure). */
  remove(appId: string, pids: readonly string[]): Promise<number>;
}

export interface DeviceDoc {
  _id: string;
  appId: string;
  pid: string;
  current?: CurrentBundle;
  /** UTC midnight of the first and last day the device's events arrived (day precision on purpose). */
  firstSeen: Date;
  lastSeen: Date;
}

const deviceSchema = new Schema<DeviceDoc>(
  {
    _id: { type: String, required: true },
    appId: { type: String, required: true },
    pid: { type: String, required: true },
    current: Schema.Types.Mixed,
    firstSeen: { type: Date, required: true },
    lastSeen: { type: Date, required: true },
  },
  { versionKey: false, collection: 'devices' },
);
// Access, export and erasure look a device up by (appId, pid); ingest writes by _id.
deviceSchema.index({ appId: 1, pid: 1 });
markPidCollection(deviceSchema, {
  category: 'device state',
  purpose: 'the bundle the device runs and the days it was first and last seen, for metrics and rollouts',
  retention: 'kept while the app exists; removed on erasure',
});

const deviceDocId = (appId: string, pid: string): string => `${appId}:${pid}`;

export class MongoDeviceStateStore implements DeviceStateStore {
  readonly model: Model<DeviceDoc>;

  constructor(
    connection: Connection,
    private readonly lookup: IdLookup = 'in',
    /** Shared with the event writer (see write-lane.ts). */
    private readonly lane: WriteLane = WriteLane.unbounded(),
    /**
     * Insert an unseen device's document before upserting (FerretDB): there an update by `_id` scans the
     * collection (README, "FerretDB limits"), about 20 ms among 1,000 devices on the development VM, while
     * an insert is checked against the unique index (2 ms). On MongoDB both are index lookups, and the
     * upsert alone is one write instead of two for a device stored before a restart.
     */
    private readonly insertFirst = false,
  ) {
    this.model = connection.model<DeviceDoc>('Device', deviceSchema);
  }

  remove(appId: string, pids: readonly string[]): Promise<number> {
    return deleteByIds(rawCollection(this.model), pids.map((pid) => deviceDocId(appId, pid)), this.lookup);
  }

  async recordActivity(appId: string, activity: readonly DeviceActivity[]): Promise<void> {
    const rest = this.insertFirst ? await this.insertUnseen(appId, activity) : activity;
    if (rest.length === 0) return;
    const ops = rest.map(({ pid, day, current }) => ({
      updateOne: {
        filter: { _id: deviceDocId(appId, pid) },
        // `current` starts with `at`, so $max on the subdocument keeps the newest app_ready.
        update: {
          $max: { lastSeen: day, ...(current ? { current } : {}) },
          $min: { firstSeen: day },
          $setOnInsert: { appId, pid },
        },
        upsert: true,
      },
    }));
    try {
      await this.lane.run('device_state', () => rawCollection(this.model).bulkWrite(ops, { ordered: false }));
    } catch (err) {
      // Two batches of a new device raced to create it; the losers' updates now find the document.
      const duplicates = duplicateKeyIndexes(err);
      if (!duplicates) throw err;
      await this.lane.run('device_state', () =>
        rawCollection(this.model).bulkWrite(
          duplicates.map((index) => ops[index]!),
          { ordered: false },
        ),
      );
    }
  }

  /**
   * Inserts the documents of the unseen devices, as the upsert would create them; returns the activity still
   * to upsert: the seen devices', and the unseen ones that turned out to be stored already.
   */
  private async insertUnseen(appId: string, activity: readonly DeviceActivity[]): Promise<readonly DeviceActivity[]> {
    const unseen = activity.filter((a) => a.unseen);
    if (unseen.length === 0) return activity;
    const docs: DeviceDoc[] = unseen.map(({ pid, day, current }) => ({
      _id: deviceDocId(appId, pid),
      appId,
      pid,
      ...(current ? { current } : {}),
      firstSeen: day,
      lastSeen: day,
    }));
    let stored: DeviceActivity[] = [];
    try {
      await this.lane.run('device_state', () => rawCollection(this.model).insertMany(docs, { ordered: false }));
    } catch (err) {
      const duplicates = duplicateKeyIndexes(err);
      if (!duplicates) throw err;
      stored = duplicates.map((index) => unseen[index]!);
    }
    return [...activity.filter((a) => !a.unseen), ...stored];
  }
}
