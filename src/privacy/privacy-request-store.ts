import type { Connection, Model, mongo } from 'mongoose';
import { isDuplicateKeyError, rawCollection } from '../connections.js';
import { claimModel, privacyRequestModel, type ClaimDoc, type PrivacyRequestDoc } from './privacy-request-model.js';
import { OPEN_STATUSES, type NoticeKind, type PrivacyRequest, type RequestStatus, type RequestType } from './privacy-types.js';

export interface RequestFilter {
  /** Only these apps (a scoped key); empty = all. */
  appIds: readonly string[];
  appId?: string;
  statuses?: readonly RequestStatus[];
  type?: RequestType;
  dueBefore?: Date;
  /** Leave out requests overdue at this time (open and due before it). */
  notOverdueAt?: Date;
  limit: number;
}

export type RequestChanges = Partial<Omit<PrivacyRequest, 'id' | 'rev' | 'createdAt'>>;

export interface PrivacyRequestStore {
  insert(request: PrivacyRequest): Promise<void>;
  get(id: string): Promise<PrivacyRequest | null>;
  /** Sorted by due date, soonest first. */
  list(filter: RequestFilter): Promise<PrivacyRequest[]>;
  /** Applies `set` (and removes `unset`) when the stored revision is `rev`; null when someone else wrote first. */
  update(id: string, rev: number, set: RequestChanges, unset?: ReadonlyArray<keyof PrivacyRequest>): Promise<PrivacyRequest | null>;
  addStatusToken(id: string, hash: string): Promise<void>;
  /** True exactly once per (request, notice): the caller that gets true announces it. */
  markNotice(id: string, notice: NoticeKind, at: Date): Promise<boolean>;
  /** Requests of (app, pid) with an export that has not been purged. */
  exportsOf(appId: string, pid: string): Promise<PrivacyRequest[]>;
  /** Exports whose expiry has passed and which are not purged yet. */
  expiredExports(now: Date): Promise<PrivacyRequest[]>;
  markExportPurged(id: string, at: Date): Promise<void>;
  /** Records a transient job error without taking part in the revision check. */
  noteError(id: string, error: { message: string; at: Date; attempt: number }): Promise<void>;
  /** Compensation when the job could not be queued. */
  remove(id: string): Promise<void>;
  /**
   * Claims (app, pid, type) for `requestId` until `until`. Returns the id of the request that holds a live
   * claim, which is `requestId` when this call won.
   */
  claim(key: { appId: string; pid: string; type: RequestType }, requestId: string, now: Date, until: Date): Promise<string>;
  /** Hands a claim held by `holder` (denied, failed or vanished) to `requestId`; false when it changed meanwhile. */
  takeOverClaim(key: { appId: string; pid: string; type: RequestType }, holder: string, requestId: string, until: Date): Promise<boolean>;
  releaseClaim(key: { appId: string; pid: string; type: RequestType }, requestId: string): Promise<void>;
  /** Deletes claims whose window ended before `now`; returns how many. */
  purgeExpiredClaims(now: Date): Promise<number>;
}

function toRequest({ _id, ...doc }: PrivacyRequestDoc): PrivacyRequest {
  // FerretDB drops empty arrays and objects in some writes: normalise what the rest of the code relies on.
  return {
    ...doc,
    id: _id,
    statusTokenHashes: doc.statusTokenHashes ?? [],
    steps: doc.steps ?? [],
    notices: doc.notices ?? {},
  };
}

const claimId = (key: { appId: string; pid: string; type: string }): string => `${key.appId}:${key.pid}:${key.type}`;

export class MongoPrivacyRequestStore implements PrivacyRequestStore {
  readonly model: Model<PrivacyRequestDoc>;
  readonly claims: Model<ClaimDoc>;

  constructor(connection: Connection) {
    this.model = privacyRequestModel(connection);
    this.claims = claimModel(connection);
  }

  private get raw(): mongo.Collection<PrivacyRequestDoc> {
    return rawCollection(this.model);
  }

  async insert({ id, ...rest }: PrivacyRequest): Promise<void> {
    await this.raw.insertOne({ _id: id, ...rest });
  }

  async get(id: string): Promise<PrivacyRequest | null> {
    const doc = await this.raw.findOne({ _id: id });
    return doc ? toRequest(doc) : null;
  }

  async list(filter: RequestFilter): Promise<PrivacyRequest[]> {
    const query: mongo.Filter<PrivacyRequestDoc> = {};
    if (filter.appId !== undefined) query.appId = filter.appId;
    else if (filter.appIds.length > 0) query.appId = { $in: [...filter.appIds] };
    if (filter.statuses) query.status = { $in: [...filter.statuses] };
    if (filter.type) query.type = filter.type;
    if (filter.dueBefore) query.dueAt = { $lt: filter.dueBefore };
    if (filter.notOverdueAt) {
      query.$or = [{ status: { $nin: [...OPEN_STATUSES] } }, { dueAt: { $gte: filter.notOverdueAt } }];
    }
    const docs = await this.raw.find(query).sort({ dueAt: 1, _id: 1 }).limit(filter.limit).toArray();
    return docs.map(toRequest);
  }

  async update(id: string, rev: number, set: RequestChanges, unset: ReadonlyArray<keyof PrivacyRequest> = []): Promise<PrivacyRequest | null> {
    const update: mongo.UpdateFilter<PrivacyRequestDoc> = { $set: { ...set, rev: rev + 1 } as Partial<PrivacyRequestDoc> };
    if (unset.length > 0) update.$unset = Object.fromEntries(unset.map((field) => [field, ''])) as never;
    const doc = await this.raw.findOneAndUpdate({ _id: id, rev }, update, { returnDocument: 'after' });
    return doc ? toRequest(doc) : null;
  }

  async addStatusToken(id: string, hash: string): Promise<void> {
    await this.raw.updateOne({ _id: id }, { $push: { statusTokenHashes: hash } });
  }

  async markNotice(id: string, notice: NoticeKind, at: Date): Promise<boolean> {
    const field = `notices.${notice}`;
    const res = await this.raw.updateOne({ _id: id, [field]: { $exists: false } } as mongo.Filter<PrivacyRequestDoc>, { $set: { [field]: at } });
    return res.modifiedCount === 1;
  }

  async exportsOf(appId: string, pid: string): Promise<PrivacyRequest[]> {
    const docs = await this.raw.find({ appId, pid, export: { $exists: true }, 'export.purgedAt': { $exists: false } }).toArray();
    return docs.map(toRequest);
  }

  async expiredExports(now: Date): Promise<PrivacyRequest[]> {
    const docs = await this.raw.find({ 'export.expiresAt': { $lte: now }, 'export.purgedAt': { $exists: false } }).toArray();
    return docs.map(toRequest);
  }

  async markExportPurged(id: string, at: Date): Promise<void> {
    await this.raw.updateOne({ _id: id }, { $set: { 'export.purgedAt': at } });
  }

  async noteError(id: string, error: { message: string; at: Date; attempt: number }): Promise<void> {
    await this.raw.updateOne({ _id: id }, { $set: { lastError: error } });
  }

  async remove(id: string): Promise<void> {
    await this.raw.deleteOne({ _id: id });
  }

  async claim(key: { appId: string; pid: string; type: RequestType }, requestId: string, now: Date, until: Date): Promise<string> {
    const _id = claimId(key);
    const claims = rawCollection(this.claims);
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        // Matches only an expired claim; with none at all the upsert inserts. A live claim makes the insert
        // collide on _id, and its holder wins.
        await claims.updateOne({ _id, until: { $lte: now } }, { $set: { ...key, requestId, until } }, { upsert: true });
        return requestId;
      } catch (err) {
        if (!isDuplicateKeyError(err)) throw err;
      }
      const live = await claims.findOne({ _id });
      if (live && live.until > now) return live.requestId;
    }
    throw new Error('duplicate-request claim kept changing');
  }

  async takeOverClaim(key: { appId: string; pid: string; type: RequestType }, holder: string, requestId: string, until: Date): Promise<boolean> {
    const res = await rawCollection(this.claims).updateOne({ _id: claimId(key), requestId: holder }, { $set: { requestId, until } });
    return res.modifiedCount === 1;
  }

  async purgeExpiredClaims(now: Date): Promise<number> {
    return (await rawCollection(this.claims).deleteMany({ until: { $lt: now } })).deletedCount;
  }

  async releaseClaim(key: { appId: string; pid: string; type: RequestType }, requestId: string): Promise<void> {
    await rawCollection(this.claims).deleteOne({ _id: claimId(key), requestId });
  }
}
