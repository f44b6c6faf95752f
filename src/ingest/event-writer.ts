import type { EventStore } from './event-store.js';
import type { AcceptedEventsListener, StoredEvent } from './stored-event.js';

export interface EventWriterOptions {
  /** Inserts in flight at once. FerretDB/SQLite has one writer, so more only adds lock contention. */
  maxConcurrentWrites: number;
  /** Largest coalesced insert. */
  maxEventsPerWrite: number;
}

export const DEFAULT_EVENT_WRITER_OPTIONS: EventWriterOptions = { maxConcurrentWrites: 2, maxEventsPerWrite: 2000 };

interface Submission {
  events: readonly StoredEvent[];
  resolve: (stored: boolean[]) => void;
  reject: (err: unknown) => void;
}

/**
 * Group commit: while the allowed inserts are in flight, batches from concurrent requests wait and then go
 * to the database together as one unordered insertMany. Idle, a batch is written at once (no added
 * latency); busy, many small writes become a few large ones. After each durable write the accepted-events
 * listeners hear about the newly stored events, synchronously and shielded from each other.
 */
export class CoalescingEventWriter {
  private readonly pending: Submission[] = [];
  private active = 0;

  constructor(
    private readonly store: EventStore,
    private readonly listeners: readonly AcceptedEventsListener[],
    private readonly onListenerError: (err: unknown) => void,
    private readonly options: EventWriterOptions = DEFAULT_EVENT_WRITER_OPTIONS,
  ) {}

  /** Resolves once durably written: per event, true when newly stored, false when already there. */
  write(events: readonly StoredEvent[]): Promise<boolean[]> {
    if (events.length === 0) return Promise.resolve([]);
    return new Promise((resolve, reject) => {
      this.pending.push({ events, resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    while (this.active < this.options.maxConcurrentWrites && this.pending.length > 0) {
      const group: Submission[] = [];
      let size = 0;
      while (this.pending.length > 0) {
        const next = this.pending[0]!;
        if (group.length > 0 && size + next.events.length > this.options.maxEventsPerWrite) break;
        group.push(next);
        size += next.events.length;
        this.pending.shift();
      }
      this.active++;
      void this.flush(group).finally(() => {
        this.active--;
        this.pump();
      });
    }
  }

  private async flush(group: readonly Submission[]): Promise<void> {
    const all = group.length === 1 ? group[0]!.events : group.flatMap((submission) => submission.events);
    let stored: boolean[];
    try {
      stored = await this.store.insert(all);
    } catch (err) {
      for (const submission of group) submission.reject(err);
      return;
    }
    const inserted = all.filter((_, index) => stored[index]);
    if (inserted.length > 0) this.notify(inserted);
    let offset = 0;
    for (const submission of group) {
      submission.resolve(stored.slice(offset, offset + submission.events.length));
      offset += submission.events.length;
    }
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
