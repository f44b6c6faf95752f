import type { LaneWriter, WriteLane } from './write-lane.js';

export interface GroupCommitOptions<S, R> {
  /** The process's write lane (see write-lane.ts); each group's commit holds one slot. */
  lane: WriteLane;
  writer: LaneWriter;
  /** Commits this writer keeps in flight at once (also bounded by `lane`). */
  maxConcurrentWrites: number;
  /** Largest group, in `size` units (a group holds at least one submission). */
  maxGroupSize: number;
  size(submission: S): number;
  /** Writes a group durably; one result per submission, in order. A throw fails every submission of the group. */
  commit(group: readonly S[]): Promise<R[]>;
}

interface Pending<S, R> {
  submission: S;
  resolve: (result: R) => void;
  reject: (err: unknown) => void;
}

/**
 * Group commit: while the allowed writes are in flight, submissions from concurrent requests wait and then
 * go to the database together. Idle, a submission is written at once (no added latency); busy, many small
 * writes become a few large ones, so a burst costs the lane a few turns instead of one per request. A group
 * is formed when the lane lets its write through, so whatever arrived while it waited goes with it.
 */
export class GroupCommit<S, R> {
  private readonly pending: Array<Pending<S, R>> = [];
  private active = 0;

  constructor(private readonly options: GroupCommitOptions<S, R>) {}

  /** Resolves with this submission's result once its group is durably written. */
  submit(submission: S): Promise<R> {
    return new Promise((resolve, reject) => {
      this.pending.push({ submission, resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    while (this.active < this.options.maxConcurrentWrites && this.pending.length > 0) {
      this.active++;
      void this.options.lane
        .run(this.options.writer, () => this.flush(this.takeGroup()))
        .finally(() => {
          this.active--;
          this.pump();
        });
    }
  }

  /** The oldest pending submissions, up to `maxGroupSize` (at least one submission). */
  private takeGroup(): Array<Pending<S, R>> {
    const { maxGroupSize, size } = this.options;
    const group: Array<Pending<S, R>> = [];
    let total = 0;
    while (this.pending.length > 0) {
      const next = this.pending[0]!;
      const nextSize = size(next.submission);
      if (group.length > 0 && total + nextSize > maxGroupSize) break;
      group.push(next);
      total += nextSize;
      this.pending.shift();
    }
    return group;
  }

  private async flush(group: ReadonlyArray<Pending<S, R>>): Promise<void> {
    if (group.length === 0) return; // an earlier group, let through first, took them all
    let results: R[];
    try {
      results = await this.options.commit(group.map((p) => p.submission));
    } catch (err) {
      for (const p of group) p.reject(err);
      return;
    }
    group.forEach((p, i) => p.resolve(results[i]!));
  }
}
