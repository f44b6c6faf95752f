import type { Clock } from '../clock.js';
import type { DeviceMarks, WatchedInstall } from './device-marks.js';
import { installFacts } from './event-facts.js';
import { LAUNCH_JUDGE_MAX_AGE_MS, type LaunchHistory } from './launch-history.js';
import { APP_READY_GRACE_MS, APP_READY_TIMEOUT_MS, bucketStart, type Fact } from './metric-definitions.js';
import type { MetricsInstruments } from './metrics-instruments.js';

/** Where launch verdicts go: the aggregator counts them like any other fact. */
export interface FactSink {
  record(facts: readonly Fact[]): void;
  flush(): Promise<void>;
}

export interface LaunchTimeoutReport {
  judged: number;
  failed: number;
}

const PAGE = 1000;

/**
 * The 10-minute rule: every install the aggregator put on the launch watch is judged once its window and
 * grace have passed, from the launch history of that device and version. Idempotent: a launch failure is
 * a fact like any other, deduped by the markers, so a retried or concurrent run never counts it twice.
 * Installs left unjudged for too long (workers down) are not judged from a history that may have expired:
 * their days go to reconciliation, which judges them from the raw events.
 */
export class LaunchTimeouts {
  constructor(
    private readonly marks: DeviceMarks,
    private readonly history: LaunchHistory,
    private readonly sink: FactSink,
    private readonly clock: Clock,
    private readonly instruments: MetricsInstruments,
  ) {}

  async run(): Promise<LaunchTimeoutReport> {
    const report = { judged: 0, failed: 0 };
    const now = this.clock.now().getTime();
    const dueBy = now - APP_READY_TIMEOUT_MS - APP_READY_GRACE_MS;
    for (;;) {
      const due = await this.marks.dueInstalls(dueBy, PAGE);
      if (due.length === 0) break;
      const fresh = due.filter((d) => d.install.installedAt >= now - LAUNCH_JUDGE_MAX_AGE_MS);
      const stale = due.filter((d) => d.install.installedAt < now - LAUNCH_JUDGE_MAX_AGE_MS);
      await this.marks.markDirty(new Set(stale.map((d) => `${d.install.appId}|${bucketStart(d.install.installedAt, 'day')}`)));
      const facts = await this.judge(
        fresh.map((d) => d.install),
        now,
      );
      this.sink.record(facts);
      await this.sink.flush();
      await this.marks.forgetInstalls(due.map((d) => d.member));
      report.judged += due.length;
      report.failed += facts.length;
      this.instruments.launchVerdicts.inc({ verdict: 'failed' }, facts.length);
      this.instruments.launchVerdicts.inc({ verdict: 'ok' }, due.length - facts.length);
      if (due.length < PAGE) break;
    }
    return report;
  }

  private async judge(installs: readonly WatchedInstall[], now: number): Promise<Fact[]> {
    const histories = await this.history.read(installs);
    return installs.flatMap((install, i) => {
      const verdict = installFacts(install, histories[i] ?? [], now);
      // Due installs are past their deadline, so the verdict is never pending here.
      return verdict === 'pending' ? [] : verdict;
    });
  }
}
