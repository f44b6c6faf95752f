import { Schema, type Connection, type Model } from 'mongoose';
import { rawCollection } from '../connections.js';

export const ROLLOUT_STATUSES = ['active', 'paused', 'rolled_back', 'completed', 'cancelled'] as const;
export type RolloutStatus = (typeof ROLLOUT_STATUSES)[number];
/** Open rollouts hold their channel; the others are finished. */
export const OPEN_STATUSES: readonly RolloutStatus[] = ['active', 'paused'];

export interface RolloutAction {
  action: 'create' | 'pause' | 'resume' | 'advance' | 'rollback' | 'cancel' | 'complete';
  actor: string;
  reason: string;
  at: Date;
  fromPercentBp: number;
  toPercentBp: number;
}

export interface RolloutRecord {
  id: string;
  appId: string;
  channel: string;
  version: string;
  baselineVersion: string;
  status: RolloutStatus;
  /** Share of devices offered the version, in basis points. */
  percentBp: number;
  /** Ascending basis points, ending at 10 000. */
  stepsBp: number[];
  stepStartedAt: Date;
  /** Percentage to restore on resume after the guard (or a human) set it to 0. */
  resumePercentBp: number | null;
  /** Guard overrides for this rollout (merged over the app's defaults and the spec's). */
  guard: Record<string, unknown>;
  /** Which guard test is running; a human resume after a failure or rollback starts the next one. */
  testId: number;
  testStartedAt: Date;
  /** Set when the guard failed the current test. */
  failedTestId: number | null;
  /** Optimistic-concurrency revision, bumped by every change. */
  rev: number;
  lastAction: RolloutAction;
  createdAt: Date;
  updatedAt: Date;
  endedAt: Date | null;
}

export interface RolloutFilter {
  channel?: string;
  /** Only these channels (the caller's scope). */
  channels?: readonly string[];
  status?: RolloutStatus;
  version?: string;
}

export interface RolloutStore {
  insert(rollout: RolloutRecord): Promise<void>;
  get(id: string): Promise<RolloutRecord | null>;
  list(appId: string, filter: RolloutFilter, limit: number): Promise<RolloutRecord[]>;
  /** Applies `changes` only when the stored revision is still `rev`; returns the new record, or null on a lost race. */
  update(id: string, rev: number, changes: Partial<Omit<RolloutRecord, 'id' | 'rev'>>): Promise<RolloutRecord | null>;
  /** The newest rolled-back rollout of this version on the channel, if any. */
  findRolledBack(appId: string, channel: string, version: string): Promise<RolloutRecord | null>;
  /** Ids of every active rollout (the guard scheduler re-arms them at worker start). */
  activeIds(): Promise<string[]>;
}

interface RolloutDoc extends Omit<RolloutRecord, 'id'> {
  _id: string;
}

const rolloutSchema = new Schema<RolloutDoc>(
  {
    _id: { type: String, required: true },
    appId: { type: String, required: true },
    channel: { type: String, required: true },
    version: { type: String, required: true },
    baselineVersion: { type: String, required: true },
    status: { type: String, required: true },
    percentBp: { type: Number, required: true },
    stepsBp: { type: [Number], required: true },
    stepStartedAt: { type: Date, required: true },
    resumePercentBp: { type: Number, default: null },
    guard: { type: Schema.Types.Mixed, default: {} },
    testId: { type: Number, required: true },
    testStartedAt: { type: Date, required: true },
    failedTestId: { type: Number, default: null },
    rev: { type: Number, required: true },
    lastAction: { type: Schema.Types.Mixed, required: true },
    createdAt: { type: Date, required: true },
    updatedAt: { type: Date, required: true },
    endedAt: { type: Date, default: null },
  },
  { versionKey: false, collection: 'rollouts', minimize: false },
);
// Listing an app's rollouts (optionally per channel), newest first.
rolloutSchema.index({ appId: 1, channel: 1, createdAt: -1 });
// The update check asks whether a device's version was rolled back on its channel.
rolloutSchema.index({ appId: 1, channel: 1, version: 1, status: 1 });
// The guard scheduler lists active rollouts at worker start.
rolloutSchema.index({ status: 1 });

function toRecord({ _id, ...rest }: RolloutDoc): RolloutRecord {
  return {
    id: _id,
    ...rest,
    stepsBp: rest.stepsBp ?? [],
    guard: rest.guard ?? {},
    resumePercentBp: rest.resumePercentBp ?? null,
    failedTestId: rest.failedTestId ?? null,
    endedAt: rest.endedAt ?? null,
  };
}

export class MongoRolloutStore implements RolloutStore {
  readonly model: Model<RolloutDoc>;

  constructor(connection: Connection) {
    this.model = connection.model<RolloutDoc>('Rollout', rolloutSchema);
  }

  async insert({ id, ...rest }: RolloutRecord): Promise<void> {
    await rawCollection(this.model).insertOne({ _id: id, ...rest });
  }

  async get(id: string): Promise<RolloutRecord | null> {
    const doc = await this.model.findById(id).lean<RolloutDoc>();
    return doc ? toRecord(doc) : null;
  }

  async list(appId: string, filter: RolloutFilter, limit: number): Promise<RolloutRecord[]> {
    const query: Record<string, unknown> = { appId };
    if (filter.channels) query.channel = { $in: [...filter.channels] };
    if (filter.channel) query.channel = filter.channels && !filter.channels.includes(filter.channel) ? { $in: [] } : filter.channel;
    if (filter.status) query.status = filter.status;
    if (filter.version) query.version = filter.version;
    const docs = await this.model.find(query).sort({ createdAt: -1 }).limit(limit).lean<RolloutDoc[]>();
    return docs.map(toRecord);
  }

  async update(id: string, rev: number, changes: Partial<Omit<RolloutRecord, 'id' | 'rev'>>): Promise<RolloutRecord | null> {
    const result = await rawCollection(this.model).updateOne({ _id: id, rev }, { $set: { ...changes, rev: rev + 1 } });
    if (result.modifiedCount !== 1) return null;
    return this.get(id);
  }

  async findRolledBack(appId: string, channel: string, version: string): Promise<RolloutRecord | null> {
    const doc = await this.model
      .findOne({ appId, channel, version, status: 'rolled_back' })
      .sort({ updatedAt: -1 })
      .lean<RolloutDoc>();
    return doc ? toRecord(doc) : null;
  }

  async activeIds(): Promise<string[]> {
    const docs = await this.model.find({ status: 'active' }, { _id: 1 }).lean<Array<{ _id: string }>>();
    return docs.map((doc) => doc._id);
  }
}
