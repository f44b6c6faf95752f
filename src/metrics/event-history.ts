import type { Connection } from 'mongoose';
import type { StoredEvent } from '../ingest/stored-event.js';
import { countedEvent, type CountedEvent } from './event-facts.js';

export type HistoricEvent = CountedEvent & { receivedAt: number };

/** Read access to the raw `events` collection (written by ingest): the truth reconciliation recounts from. */
export interface EventHistory {
  /** Every event of one app that occurred in [from, to). */
  range(appId: string, from: number, to: number): Promise<HistoricEvent[]>;
}

type EventRow = Pick<StoredEvent, 'appId' | 'pid' | 'type' | 'version' | 'channel' | 'platform' | 'fromVersion' | 'occurredAt' | 'receivedAt'>;

const PROJECTION = { _id: 0, appId: 1, pid: 1, type: 1, version: 1, channel: 1, platform: 1, fromVersion: 1, occurredAt: 1, receivedAt: 1 };

export class MongoEventHistory implements EventHistory {
  constructor(private readonly connection: Connection) {}

  private get events() {
    return this.connection.collection<EventRow>('events');
  }

  async range(appId: string, from: number, to: number): Promise<HistoricEvent[]> {
    // The events index {appId, occurredAt} on MongoDB; a full scan on FerretDB 1.24 (a background job only).
    const rows = await this.events
      .find({ appId, occurredAt: { $gte: new Date(from), $lt: new Date(to) } }, { projection: PROJECTION })
      .toArray();
    return rows.map((row) => ({ ...countedEvent(row), receivedAt: new Date(row.receivedAt).getTime() }));
  }
}
