import { Schema, type Connection, type Model } from 'mongoose';
import { duplicateKeyIndexes, rawCollection } from '../connections.js';
import { markPidCollection } from '../privacy/pid-registry.js';
import { GroupCommit } from '../group-commit.js';
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

/** Largest group of device-state writes, in devices (before merging a device's entries). */
const MAX_DEVICES_PER_WRITE = 2000;

interface Submission {
  appId: string;
  activity: readonly DeviceActivity[];
}

/** One device's activity in a group: its app with it, and one entry per (device, day). */
type GroupedActivity = DeviceActivity & { appId: string };

/**
 * A group's activity with one entry per device and day: the newest running bundle wins, and a device any
 * submission has not written yet is inserted first (an insert that finds it stored becomes an upsert).
 */
function mergeActivity(group: readonly Submission[]): GroupedActivity[] {
  const merged = new Map<string, GroupedActivity>();
  for (const { appId, activity } of group) {
    for (const a of activity) {
      const key = `${deviceDocId(appId, a.pid)}|${a.day.getTime()}`;
      const known = merged.get(key);
      if (!known) {
        merged.set(key, { ...a, appId });
        continue;
      }
      if (a.current && (!known.current || a.current.at > known.current.at)) known.current = a.current;
      if (a.unseen) known.unseen = true;
    }
  }
  return [...merged.values()];
}

export class MongoDeviceStateStore implements DeviceStateStore {
  readonly model: Model<DeviceDoc>;
  /** Device-state writes of concurrent batches share a lane turn (a burst of new devices is a few writes, not one each). */
  private readonly commits: GroupCommit<Submission, void>;

  constructor(
    connection: Connection,
    private readonly lookup: IdLookup = 'in',
    /** Shared with the event writer (see write-lane.ts). */
    lane: WriteLane = WriteLane.unbounded(),
    /**
     * Insert an unseen device's document before upserting (FerretDB): there an update by `_id` scans the
     * collection (README, "FerretDB limits"), about 20 ms among 1,000 devices on the development VM, while
     * an insert is checked against the unique index (2 ms). On MongoDB both are index lookups, and the
     * upsert alone is one write instead of two for a device stored before a restart.
     */
    private readonly insertFirst = false,
  ) {
    this.model = connection.model<DeviceDoc>('Device', deviceSchema);
    this.commits = new GroupCommit<Submission, void>({
      lane,
      writer: 'device_state',
      maxConcurrentWrites: 2,
      maxGroupSize: MAX_DEVICES_PER_WRITE,
      size: (submission) => submission.activity.length,
      commit: async (group) => {
        await this.write(mergeActivity(group));
        return group.map(() => undefined);
      },
    });
  }

  remove(appId: string, pids: readonly string[]): Promise<number> {
    return deleteByIds(rawCollection(this.model), pids.map((pid) => deviceDocId(appId, pid)), this.lookup);
  }

  async recordActivity(appId: string, activity: readonly DeviceActivity[]): Promise<void> {
    if (activity.length > 0) await this.commits.submit({ appId, activity });
  }

  /** One group's writes, in its lane turn: the unseen devices' inserts (FerretDB), then the upserts. */
  private async write(activity: readonly GroupedActivity[]): Promise<void> {
    const rest = this.insertFirst ? await this.insertUnseen(activity) : activity;
    if (rest.length === 0) return;
    const ops = rest.map(({ appId, pid, day, current }) => ({
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
    const devices = rawCollection(this.model);
    try {
      await devices.bulkWrite(ops, { ordered: false });
    } catch (err) {
      // Two batches of a new device raced to create it; the losers' updates now find the document.
      const duplicates = duplicateKeyIndexes(err);
      if (!duplicates) throw err;
      await devices.bulkWrite(
        duplicates.map((index) => ops[index]!),
        { ordered: false },
      );
    }
  }

  /**
   * Inserts the documents of the unseen devices, as the upsert would create them; returns the activity still
   * to upsert: the seen devices', and the unseen ones that turned out to be stored already.
   */
  private async insertUnseen(activity: readonly GroupedActivity[]): Promise<readonly GroupedActivity[]> {
    const unseen = activity.filter((a) => a.unseen);
    if (unseen.length === 0) return activity;
    const docs: DeviceDoc[] = unseen.map(({ appId, pid, day, current }) => ({
      _id: deviceDocId(appId, pid),
      appId,
      pid,
      ...(current ? { current } : {}),
      firstSeen: day,
      lastSeen: day,
    }));
    let stored: GroupedActivity[] = [];
    try {
      await rawCollection(this.model).insertMany(docs, { ordered: false });
    } catch (err) {
      const duplicates = duplicateKeyIndexes(err);
      if (!duplicates) throw err;
      stored = duplicates.map((index) => unseen[index]!);
    }
    return [...activity.filter((a) => !a.unseen), ...stored];
  }
}
