import { Schema, type Connection, type Model } from 'mongoose';
import { rawCollection } from '../connections.js';

export interface ChannelRecord {
  appId: string;
  name: string;
  /** Containment: a blocked channel serves no update and no rollback. */
  blocked: boolean;
  /** The version devices on this channel should run outside any rollout (set when a rollout completes). */
  stableVersion: string | null;
  /** The open (active or paused) rollout holding the channel; one at a time. */
  activeRolloutId: string | null;
  createdAt: Date;
  updatedAt: Date;
}

export interface ChannelStore {
  /** Creates the channel on first use and returns it. */
  ensure(appId: string, name: string, now: Date): Promise<ChannelRecord>;
  get(appId: string, name: string): Promise<ChannelRecord | null>;
  list(appId: string): Promise<ChannelRecord[]>;
  setBlocked(appId: string, name: string, blocked: boolean, now: Date): Promise<ChannelRecord>;
  setStableVersion(appId: string, name: string, version: string, now: Date): Promise<void>;
  /**
   * Compare-and-set of the channel's rollout slot: succeeds when the slot holds `expected` (null = free).
   * FerretDB has no partial unique indexes, so "one open rollout per channel" lives on this one document.
   */
  swapRolloutSlot(appId: string, name: string, expected: string | null, next: string | null, now: Date): Promise<boolean>;
}

interface ChannelDoc extends Omit<ChannelRecord, 'name'> {
  _id: string;
  name: string;
}

const channelSchema = new Schema<ChannelDoc>(
  {
    _id: { type: String, required: true },
    appId: { type: String, required: true },
    name: { type: String, required: true },
    blocked: { type: Boolean, required: true },
    stableVersion: { type: String, default: null },
    activeRolloutId: { type: String, default: null },
    createdAt: { type: Date, required: true },
    updatedAt: { type: Date, required: true },
  },
  { versionKey: false, collection: 'channels' },
);
// Listing an app's channels; single channels are read by _id.
channelSchema.index({ appId: 1, name: 1 });

const idOf = (appId: string, name: string): string => `${appId}:${name}`;
const toRecord = ({ _id: _ignored, ...rest }: ChannelDoc): ChannelRecord => ({
  ...rest,
  stableVersion: rest.stableVersion ?? null,
  activeRolloutId: rest.activeRolloutId ?? null,
});

export class MongoChannelStore implements ChannelStore {
  readonly model: Model<ChannelDoc>;

  constructor(connection: Connection) {
    this.model = connection.model<ChannelDoc>('Channel', channelSchema);
  }

  async ensure(appId: string, name: string, now: Date): Promise<ChannelRecord> {
    await rawCollection(this.model).updateOne(
      { _id: idOf(appId, name) },
      { $setOnInsert: { appId, name, blocked: false, stableVersion: null, activeRolloutId: null, createdAt: now, updatedAt: now } },
      { upsert: true },
    );
    const doc = await this.model.findById(idOf(appId, name)).lean<ChannelDoc>();
    if (!doc) throw new Error('channel vanished after upsert');
    return toRecord(doc);
  }

  async get(appId: string, name: string): Promise<ChannelRecord | null> {
    const doc = await this.model.findById(idOf(appId, name)).lean<ChannelDoc>();
    return doc ? toRecord(doc) : null;
  }

  async list(appId: string): Promise<ChannelRecord[]> {
    const docs = await this.model.find({ appId }).sort({ name: 1 }).lean<ChannelDoc[]>();
    return docs.map(toRecord);
  }

  async setBlocked(appId: string, name: string, blocked: boolean, now: Date): Promise<ChannelRecord> {
    await this.ensure(appId, name, now);
    await rawCollection(this.model).updateOne({ _id: idOf(appId, name) }, { $set: { blocked, updatedAt: now } });
    return { ...(await this.ensure(appId, name, now)) };
  }

  async setStableVersion(appId: string, name: string, version: string, now: Date): Promise<void> {
    await rawCollection(this.model).updateOne({ _id: idOf(appId, name) }, { $set: { stableVersion: version, updatedAt: now } });
  }

  async swapRolloutSlot(appId: string, name: string, expected: string | null, next: string | null, now: Date): Promise<boolean> {
    const result = await rawCollection(this.model).updateOne(
      { _id: idOf(appId, name), activeRolloutId: expected },
      { $set: { activeRolloutId: next, updatedAt: now } },
    );
    return result.modifiedCount === 1;
  }
}
