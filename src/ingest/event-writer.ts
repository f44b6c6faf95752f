import type { EventStore } from './event-store.js';
import type { AcceptedEventsListener, StoredEvent } from './stored-event.js';
import { WriteLane } from '../write-lane.js';

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

interface Submission {
  events: readonly StoredEvent[];
  resolve: (stored: boolean[]) => void;
  reject: (err: unknown) => void;
}

/**
 * Group commit: while the allowed inserts are in flight, batches from concurrent requests wait and then go
 * to the database together as one unordered insertMany. Idle, a batch is written at once (no added
 * latency); busy, many small writes become a few large ones. A group is formed when the write lane lets
 * its insert through, so whatever arrived while it waited goes with it. After each durable write the
 * accepted-events listeners hear about the newly stored events, synchronously and shielded from each other.
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
      this.active++;
      void this.options.lane
        .run('events', () => this.flush(this.takeGroup()))
        .finally(() => {
          this.active--;
          this.pump();
        });
    }
  }

  /** The oldest pending submissions, up to `maxEventsPerWrite` events (at least one submission). */
  private takeGroup(): Submission[] {
    const group: Submission[] = [];
    let size = 0;
    while (this.pending.length > 0) {
      const next = this.pending[0]!;
      if (group.length > 0 && size + next.events.length > this.options.maxEventsPerWrite) break;
      group.push(next);
      size += next.events.length;
      this.pending.shift();
    }
    return group;
  }

  private async flush(group: readonly Submission[]): Promise<void> {
    if (group.length === 0) return; // an earlier group, let through first, took them all
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
