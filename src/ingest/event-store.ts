import { Schema, type Connection, type Model } from 'mongoose';
import { duplicateKeyIndexes, rawCollection } from '../connections.js';
import { markPidCollection } from '../privacy/pid-registry.js';
import { deleteByIds, type IdLookup } from './id-lookup.js';
import { EVENT_TYPES, type StoredEvent } from './stored-event.js';

/** Durable storage of raw events. */
export interface EventStore {
  /**
   * Inserts every event whose `_id` is not stored yet; resolves once the database acknowledged the write.
   * Returns, per event, true when this call stored it and false when it was already there (a duplicate).
   * Any other write failure rejects: then nothing may be acknowledged.
   */
  insert(events: readonly StoredEvent[]): Promise<boolean[]>;
  /** Deletes the events with these `_id`s (ingest's retraction of a batch that raced an erasure). */
  remove(ids: readonly string[]): Promise<number>;
}

const eventSchema = new Schema<StoredEvent>(
  {
    _id: { type: String, required: true },
    appId: { type: String, required: true },
    pid: { type: String, required: true },
    type: { type: String, required: true, enum: EVENT_TYPES },
    version: { type: String, required: true },
    channel: { type: String, required: true },
    platform: { type: String, required: true },
    occurredAt: { type: Date, required: true },
    receivedAt: { type: Date, required: true },
    fromVersion: String,
    nativeVersion: String,
    osVersion: String,
    errorCode: String,
    durationMs: Number,
  },
  { versionKey: false, collection: 'events' },
);
// Access, export and erasure of one device's events (privacy); also the shard key {appId, pid}.
eventSchema.index({ appId: 1, pid: 1 });
// Retention purge (occurredAt older than the app's policy) and metric reconciliation over a time range.
eventSchema.index({ appId: 1, occurredAt: 1 });
markPidCollection(eventSchema, {
  category: 'update telemetry events',
  purpose: 'adoption and failure metrics per release, and the rollout guard',
  retention: "the app's retention policy (default 90 days), purged by the retention job",
});


export class MongoEventStore implements EventStore {
  readonly model: Model<StoredEvent>;

  constructor(
    connection: Connection,
    private readonly lookup: IdLookup = 'in',
  ) {
    this.model = connection.model<StoredEvent>('TelemetryEvent', eventSchema);
  }

  async insert(events: readonly StoredEvent[]): Promise<boolean[]> {
    const stored = events.map(() => true);
    if (events.length === 0) return stored;
    try {
      // Unordered: one duplicate does not stop the rest. Journaled: the connection's durableWriteOptions.
      await rawCollection(this.model).insertMany(events as StoredEvent[], { ordered: false });
    } catch (err) {
      const duplicates = duplicateKeyIndexes(err);
      if (!duplicates) throw err;
      for (const index of duplicates) stored[index] = false;
    }
    return stored;
  }

  remove(ids: readonly string[]): Promise<number> {
    return deleteByIds(rawCollection(this.model), ids, this.lookup);
  }
}
