import { Schema, type Connection, type Model } from 'mongoose';
import { rawCollection } from '../connections.js';

export type IncidentStatus = 'open' | 'acknowledged' | 'resolved';

export interface IncidentRecord {
  id: string;
  appId: string;
  rolloutId: string;
  channel: string;
  version: string;
  baselineVersion: string;
  metric: string | null;
  segment: string | null;
  detector: string;
  /** The guard's evidence: counts, exposures, estimated ρ, always-valid p-value, config hash. */
  evidence: Record<string, unknown> | null;
  /** What was done: `rolled_back` or `paused`. */
  action: 'rolled_back' | 'paused';
  reason: string;
  /** The decision-log entry that opened it. */
  decisionId: string;
  status: IncidentStatus;
  openedAt: Date;
  /** The last acknowledgement or resolution: who (API key id), when, and their note. */
  statusChangedAt?: Date;
  statusChangedBy?: string;
  note?: string;
}

export interface IncidentFilter {
  status?: IncidentStatus;
  rolloutId?: string;
  /** Only incidents of these channels (the caller's scope). */
  channels?: readonly string[];
}

export interface IncidentStore {
  /** Idempotent by id; true when newly opened. */
  open(incident: IncidentRecord): Promise<boolean>;
  get(id: string): Promise<IncidentRecord | null>;
  list(appId: string, filter: IncidentFilter, limit: number): Promise<IncidentRecord[]>;
  /** Moves an incident of the app from one of `from` to `to`; null when it is not in one of them. */
  setStatus(appId: string, id: string, from: readonly IncidentStatus[], to: IncidentStatus, change: { at: Date; by: string; note?: string }): Promise<IncidentRecord | null>;
}

type IncidentDoc = Omit<IncidentRecord, 'id'> & { _id: string };

const incidentSchema = new Schema<IncidentDoc>(
  {
    _id: { type: String, required: true },
    appId: { type: String, required: true },
    rolloutId: { type: String, required: true },
    channel: { type: String, required: true },
    version: { type: String, required: true },
    baselineVersion: { type: String, required: true },
    metric: { type: String, default: null },
    segment: { type: String, default: null },
    detector: { type: String, required: true },
    evidence: { type: Schema.Types.Mixed, default: null },
    action: { type: String, required: true },
    reason: { type: String, required: true },
    decisionId: { type: String, required: true },
    status: { type: String, required: true },
    openedAt: { type: Date, required: true },
    statusChangedAt: Date,
    statusChangedBy: String,
    note: String,
  },
  { versionKey: false, collection: 'incidents', minimize: false },
);
// GET /v1/apps/{appId}/incidents, newest first, optionally by status or rollout.
incidentSchema.index({ appId: 1, openedAt: -1 });
incidentSchema.index({ rolloutId: 1, openedAt: -1 });

const toRecord = ({ _id, ...rest }: IncidentDoc): IncidentRecord => ({ id: _id, ...rest });

export class MongoIncidentStore implements IncidentStore {
  readonly model: Model<IncidentDoc>;

  constructor(connection: Connection) {
    this.model = connection.model<IncidentDoc>('Incident', incidentSchema);
  }

  async open({ id, ...rest }: IncidentRecord): Promise<boolean> {
    const result = await rawCollection(this.model).updateOne({ _id: id }, { $setOnInsert: rest }, { upsert: true });
    return result.upsertedCount === 1;
  }

  async get(id: string): Promise<IncidentRecord | null> {
    const doc = await this.model.findById(id).lean<IncidentDoc>();
    return doc ? toRecord(doc) : null;
  }

  async list(appId: string, filter: IncidentFilter, limit: number): Promise<IncidentRecord[]> {
    const query: Record<string, unknown> = { appId };
    if (filter.status) query.status = filter.status;
    if (filter.rolloutId) query.rolloutId = filter.rolloutId;
    if (filter.channels) query.channel = { $in: [...filter.channels] };
    const docs = await this.model.find(query).sort({ openedAt: -1 }).limit(limit).lean<IncidentDoc[]>();
    return docs.map(toRecord);
  }

  async setStatus(
    appId: string,
    id: string,
    from: readonly IncidentStatus[],
    to: IncidentStatus,
    change: { at: Date; by: string; note?: string },
  ): Promise<IncidentRecord | null> {
    const set: Record<string, unknown> = { status: to, statusChangedAt: change.at, statusChangedBy: change.by };
    if (change.note !== undefined) set.note = change.note;
    const result = await rawCollection(this.model).updateOne({ _id: id, appId, status: { $in: [...from] } }, { $set: set });
    return result.modifiedCount === 1 ? this.get(id) : null;
  }
}
