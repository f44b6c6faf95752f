import { Schema, type Connection, type Model } from 'mongoose';
import { rawCollection } from '../connections.js';
import { findByIds, type IdLookup } from '../ingest/id-lookup.js';
import { markPidCollection } from '../privacy/pid-registry.js';

/** Which side of a rollout the update check put a device on: offered the new version (U) or not (C). */
export type Arm = 'U' | 'C';

export interface Exposure {
  rolloutId: string;
  appId: string;
  pid: string;
  platform: string;
  arm: Arm;
  firstSeenAt: Date;
  lastSeenAt: Date;
}

/**
 * Devices the update check has seen for a rollout. The guard counts only their events, so telemetry
 * forged for devices that never asked for an update cannot move it.
 */
export interface ExposureStore {
  record(exposure: Omit<Exposure, 'firstSeenAt' | 'lastSeenAt'>, now: Date): Promise<void>;
  /** Deletes one device's exposure (an update check's retraction after racing an erasure). */
  remove(rolloutId: string, pid: string): Promise<void>;
  /** The subset of `pids` seen for the rollout. */
  seen(rolloutId: string, pids: readonly string[]): Promise<Set<string>>;
  deleteForRollout(rolloutId: string): Promise<number>;
  /** Devices first seen in [from, to), by arm: the sample-ratio check's traffic. */
  newDevices(rolloutId: string, from: number, to: number): Promise<{ devicesU: number; devicesC: number }>;
}

interface ExposureDoc extends Exposure {
  _id: string;
}

const exposureSchema = new Schema<ExposureDoc>(
  {
    _id: { type: String, required: true },
    rolloutId: { type: String, required: true },
    appId: { type: String, required: true },
    pid: { type: String, required: true },
    platform: { type: String, required: true },
    arm: { type: String, required: true },
    firstSeenAt: { type: Date, required: true },
    lastSeenAt: { type: Date, required: true },
  },
  { versionKey: false, collection: 'rollout_exposures' },
);
markPidCollection(exposureSchema, {
  category: 'rollout participation (update checks)',
  purpose: 'decide which bundle a device gets and count only real participants in the rollout guard',
  retention: 'while the rollout is open; deleted when it completes, is cancelled or rolled back',
});
// Cleanup when a rollout ends; privacy requests find a device's rows by pid.
exposureSchema.index({ rolloutId: 1 });
exposureSchema.index({ pid: 1 });
// The guard counts the devices first seen in each bucket, by arm.
exposureSchema.index({ rolloutId: 1, firstSeenAt: 1 });

const idOf = (rolloutId: string, pid: string): string => `${rolloutId}:${pid}`;

export class MongoExposureStore implements ExposureStore {
  readonly model: Model<ExposureDoc>;

  constructor(
    connection: Connection,
    private readonly idLookup: IdLookup = 'in',
  ) {
    this.model = connection.model<ExposureDoc>('RolloutExposure', exposureSchema);
  }

  async remove(rolloutId: string, pid: string): Promise<void> {
    await rawCollection(this.model).deleteOne({ _id: idOf(rolloutId, pid) });
  }

  async record(exposure: Omit<Exposure, 'firstSeenAt' | 'lastSeenAt'>, now: Date): Promise<void> {
    const { rolloutId, pid, arm, platform, appId } = exposure;
    await rawCollection(this.model).updateOne(
      { _id: idOf(rolloutId, pid) },
      { $set: { arm, platform, lastSeenAt: now }, $setOnInsert: { rolloutId, appId, pid, firstSeenAt: now } },
      { upsert: true },
    );
  }

  async seen(rolloutId: string, pids: readonly string[]): Promise<Set<string>> {
    if (pids.length === 0) return new Set();
    const ids = [...new Set(pids)].map((pid) => idOf(rolloutId, pid));
    const found = new Set<string>();
    // Chunked: a busy bucket can hold many thousands of devices.
    for (let i = 0; i < ids.length; i += 2000) {
      const docs = await findByIds(rawCollection(this.model), ids.slice(i, i + 2000), { pid: 1 }, this.idLookup);
      for (const doc of docs) found.add(doc.pid);
    }
    return found;
  }

  async newDevices(rolloutId: string, from: number, to: number): Promise<{ devicesU: number; devicesC: number }> {
    const window = { $gte: new Date(from), $lt: new Date(to) };
    const collection = rawCollection(this.model);
    const [devicesU, devicesC] = await Promise.all([
      collection.countDocuments({ rolloutId, firstSeenAt: window, arm: 'U' }),
      collection.countDocuments({ rolloutId, firstSeenAt: window, arm: 'C' }),
    ]);
    return { devicesU, devicesC };
  }

  async deleteForRollout(rolloutId: string): Promise<number> {
    const result = await rawCollection(this.model).deleteMany({ rolloutId });
    return result.deletedCount;
  }
}
