import type { Connection } from 'mongoose';
import { servedByFerretDb } from '../src/connections.js';
import { CoalescingEventWriter, DEFAULT_EVENT_WRITER_OPTIONS } from '../src/ingest/event-writer.js';
import type { EventStore } from '../src/ingest/event-store.js';
import { WriteLane, type LaneObserver } from '../src/write-lane.js';

/**
 * The api's write path as `createIngestModule` builds it (a coalescing writer on a write lane: one writer
 * on FerretDB, unbounded on MongoDB), without listeners: what B3 and B1's server write through.
 */
export async function apiWritePath(connection: Connection, store: EventStore, observer?: LaneObserver): Promise<CoalescingEventWriter> {
  const lane = WriteLane.for(await servedByFerretDb(connection.db!), 0, observer);
  return new CoalescingEventWriter(store, [], () => undefined, { ...DEFAULT_EVENT_WRITER_OPTIONS, lane });
}
