import type { Connection } from 'mongoose';
import type { CountableEvent, EventType } from '../metrics/device-counting.js';
import type { StoredEvent } from '../ingest/stored-event.js';

/** An event as the guard reads it: countable, plus when the server received it. */
export interface GuardEvent extends CountableEvent {
  receivedAt: number;
}

export interface GuardEventQuery {
  appId: string;
  channel: string;
  /** Events about these versions (or, for `rolled_back`, rolled back from them). */
  versions: readonly string[];
  occurredFrom: number;
  occurredTo: number;
  receivedFrom?: number;
  receivedTo?: number;
}

/** Read access to the raw `events` collection written by ingest. */
export interface GuardEventSource {
  /** Matching events in arrival order (receivedAt, then id), so every replay feeds them identically. */
  find(query: GuardEventQuery): Promise<GuardEvent[]>;
}

type EventRow = Pick<StoredEvent, '_id' | 'pid' | 'type' | 'version' | 'fromVersion' | 'platform' | 'occurredAt' | 'receivedAt'>;

export class MongoGuardEventSource implements GuardEventSource {
  constructor(private readonly connection: Connection) {}

  async find(query: GuardEventQuery): Promise<GuardEvent[]> {
    const filter: Record<string, unknown> = {
      appId: query.appId,
      channel: query.channel,
      occurredAt: { $gte: new Date(query.occurredFrom), $lt: new Date(query.occurredTo) },
    };
    if (query.receivedFrom !== undefined || query.receivedTo !== undefined) {
      filter.receivedAt = {
        ...(query.receivedFrom !== undefined ? { $gte: new Date(query.receivedFrom) } : {}),
        ...(query.receivedTo !== undefined ? { $lt: new Date(query.receivedTo) } : {}),
      };
    }
    const rows = await this.connection
      .collection<EventRow>('events')
      .find(filter, { projection: { pid: 1, type: 1, version: 1, fromVersion: 1, platform: 1, occurredAt: 1, receivedAt: 1 } })
      .toArray();
    const wanted = new Set(query.versions);
    const events: GuardEvent[] = [];
    for (const row of rows) {
      if (!wanted.has(row.version) && !(row.type === 'rolled_back' && row.fromVersion !== undefined && wanted.has(row.fromVersion))) continue;
      const event: GuardEvent = {
        eventId: String(row._id),
        pid: row.pid,
        type: row.type as EventType,
        version: row.version,
        platform: row.platform,
        occurredAt: new Date(row.occurredAt).getTime(),
        receivedAt: new Date(row.receivedAt).getTime(),
      };
      if (row.fromVersion !== undefined && row.fromVersion !== null) event.fromVersion = row.fromVersion;
      events.push(event);
    }
    return events.sort((a, b) => a.receivedAt - b.receivedAt || (a.eventId < b.eventId ? -1 : a.eventId > b.eventId ? 1 : 0));
  }
}
