import { GroupCommit } from '../group-commit.js';
import { WriteLane } from '../write-lane.js';
import type { EventStore } from './event-store.js';
import type { AcceptedEventsListener, StoredEvent } from './stored-event.js';

export interface EventWriterOptions {
  /** Inserts this writer keeps in flight at once (also bounded by `lane`). */
  maxConcurrentWrites: number;
  /** Largest coalesced insert. */
  maxEventsPerWrite: number;
  /** The process's write lane, shared with device state and metric counters (see write-lane.ts). */
  lane: WriteLane;
}

export const DEFAULT_EVENT_WRITER_OPTIONS: EventWriterOptions = {
  maxConcurrentWrites: 2,
  maxEventsPerWrite: 2000,
  lane: WriteLane.unbounded(),
};

/**
 * Durable event writes by group commit (see GroupCommit): batches from concurrent requests that waited
 * for the lane go to the database together as one unordered insertMany. After each durable write the
 * accepted-events listeners hear about the newly stored events, synchronously and shielded from each other.
 */
export class CoalescingEventWriter {
  private readonly commits: GroupCommit<readonly StoredEvent[], boolean[]>;

  constructor(
    private readonly store: EventStore,
    private readonly listeners: readonly AcceptedEventsListener[],
    private readonly onListenerError: (err: unknown) => void,
    options: EventWriterOptions = DEFAULT_EVENT_WRITER_OPTIONS,
  ) {
    this.commits = new GroupCommit({
      lane: options.lane,
      writer: 'events',
      maxConcurrentWrites: options.maxConcurrentWrites,
      maxGroupSize: options.maxEventsPerWrite,
      size: (events) => events.length,
      commit: (group) => this.insert(group),
    });
  }

  /** Resolves once durably written: per event, true when newly stored, false when already there. */
  write(events: readonly StoredEvent[]): Promise<boolean[]> {
    if (events.length === 0) return Promise.resolve([]);
    return this.commits.submit(events);
  }

  private async insert(group: ReadonlyArray<readonly StoredEvent[]>): Promise<boolean[][]> {
    const all = group.length === 1 ? group[0]! : group.flat();
    const stored = await this.store.insert(all);
    const inserted = all.filter((_, index) => stored[index]);
    if (inserted.length > 0) this.notify(inserted);
    let offset = 0;
    return group.map((events) => {
      offset += events.length;
      return stored.slice(offset - events.length, offset);
    });
  }

  private notify(inserted: readonly StoredEvent[]): void {
    for (const listener of this.listeners) {
      try {
        listener.onAccepted(inserted);
      } catch (err) {
        this.onListenerError(err);
      }
    }
  }
}
