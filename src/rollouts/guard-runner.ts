import type { AppService } from '../apps/app-service.js';
import type { Clock } from '../clock.js';
import { canonicalJson } from '../crypto/canonical-json.js';
import { configHash, type GuardConfig } from '../guard/guard-config.js';
import type { Evaluation, GuardState } from '../guard/guard-types.js';
import { createGuardState, evaluate } from '../guard/evaluator.js';
import type { ReleaseService } from '../releases/release-service.js';
import type { ExposureStore } from './exposure-store.js';
import type { GuardBaselines } from './guard-baseline.js';
import type { GuardEffects } from './guard-effects.js';
import type { BaselineRates, CountingScope, GuardInputLoader } from './guard-inputs.js';
import type { GuardDecisionEntry, GuardLogStore, GuardTest } from './guard-log-store.js';
import type { GuardScheduler } from './guard-scheduler.js';
import type { RolloutService } from './rollout-service.js';
import type { RolloutRecord, RolloutStore } from './rollout-store.js';

export type GuardOutcome = 'evaluated' | 'already_evaluated' | 'skipped';

/** Two buckets of one rollout were evaluated at once and the other was logged first; the job retries. */
export class GuardStateMovedError extends Error {}

/** JSON that keeps ±Infinity and NaN (JSON.stringify would turn them into null). */
export function encodeState(state: GuardState): string {
  return JSON.stringify(state, (_key, value: unknown) => (typeof value === 'number' && !Number.isFinite(value) ? `__num:${value}` : value));
}
export function decodeState(json: string): GuardState {
  return JSON.parse(json, (_key, value: unknown) => (typeof value === 'string' && value.startsWith('__num:') ? Number(value.slice(6)) : value)) as GuardState;
}

/**
 * One guard evaluation of one (rollout, bucket): load the test, count the bucket, evaluate, log the
 * decision under the unique id `<rolloutId>:<bucketStart>`, apply it, schedule the next bucket.
 */
export class GuardRunner {
  constructor(
    private readonly rollouts: RolloutStore,
    private readonly rolloutService: RolloutService,
    private readonly apps: AppService,
    private readonly releases: ReleaseService,
    private readonly exposures: ExposureStore,
    private readonly log: GuardLogStore,
    private readonly loader: GuardInputLoader,
    private readonly baselines: GuardBaselines,
    private readonly effects: GuardEffects,
    private readonly scheduler: GuardScheduler,
    private readonly clock: Clock,
    private readonly evaluator: typeof evaluate = evaluate,
  ) {}

  async run(rolloutId: string, bucketStart: number): Promise<GuardOutcome> {
    const rollout = await this.rollouts.get(rolloutId);
    if (!rollout) return 'skipped';
    const id = `${rolloutId}:${bucketStart}`;
    const logged = await this.log.getDecision(id);
    if (logged) {
      await this.finish(logged, rollout);
      return 'already_evaluated';
    }
    const firstBucket = this.scheduler.bucketOf(rollout.testStartedAt.getTime());
    if (rollout.status !== 'active' || bucketStart < firstBucket) {
      if (rollout.status !== 'active') this.loader.drop(rollout.id, rollout.testId);
      return 'skipped';
    }
    // Arm the next bucket first, so one evaluation that keeps failing cannot end the chain.
    await this.scheduler.schedule(rolloutId, bucketStart + this.scheduler.bucketMs, this.clock.now().getTime());
    const test = await this.ensureTest(rollout);
    const config = JSON.parse(test.configJson) as GuardConfig;
    const baselineRates = JSON.parse(test.baselineRatesJson) as BaselineRates;
    const latest = await this.log.latestDecision(rolloutId, rollout.testId);
    if (latest && latest.bucketStart >= bucketStart) return 'skipped';
    const state = latest ? decodeState(latest.stateJson) : createGuardState(config);

    const scope: CountingScope = {
      rolloutId,
      testId: rollout.testId,
      appId: rollout.appId,
      channel: rollout.channel,
      versionU: rollout.version,
      versionC: rollout.baselineVersion,
      testStartedAt: rollout.testStartedAt.getTime(),
      config,
      baselineRates,
    };
    const traffic = await this.exposures.newDevices(rolloutId, bucketStart, bucketStart + config.bucketMs);
    const context = { percent: rollout.percentBp / 100, stepStartedAt: rollout.stepStartedAt.getTime(), ...(traffic.devicesU + traffic.devicesC > 0 ? { traffic } : {}) };
    const inputs = await this.loader.inputsFor(scope, bucketStart, context, latest?.bucketStart ?? null, async () => {
      const entries = await this.log.listDecisions(rolloutId, { testId: rollout.testId, limit: 1_000_000 });
      return entries.map((e) => ({ bucketStart: e.bucketStart, silentSince: e.kind === 'pause_data' ? silentSinceOf(e) : null }));
    });
    const evaluation = this.evaluator(state, inputs, config);
    const entry: GuardDecisionEntry = {
      id,
      rolloutId,
      appId: rollout.appId,
      testId: rollout.testId,
      sequence: evaluation.record.sequence,
      bucketStart,
      kind: evaluation.decision.kind,
      action: evaluation.decision.action,
      recordJson: canonicalJson(evaluation.record),
      stateJson: encodeState(evaluation.state),
      createdAt: this.clock.now(),
      appliedAt: null,
    };
    if (!(await this.log.insertDecision(entry))) {
      const winner = await this.log.getDecision(id);
      // Another bucket was logged from the same state meanwhile: retry from the new state (BullMQ backoff).
      if (!winner) throw new GuardStateMovedError('guard state moved on during the evaluation; retrying');
      await this.finish(winner, rollout);
      return 'already_evaluated';
    }
    if (entry.kind === 'pause_data') {
      const silentSince = evaluation.record.health.silentSince;
      if (silentSince !== null) this.loader.forgetSilentLaunches(rolloutId, rollout.testId, silentSince, this.scheduler.cutoffOf(bucketStart));
    }
    await this.finish(entry, rollout, latest?.kind ?? null);
    return 'evaluated';
  }

  /** Applies the decision if not yet done, then arms the next bucket while the same test runs. */
  private async finish(entry: GuardDecisionEntry, rollout: RolloutRecord, previousKind?: string | null): Promise<void> {
    if (!entry.appliedAt) {
      const record = JSON.parse(entry.recordJson) as Evaluation['record'];
      const previous = previousKind !== undefined ? previousKind : await this.previousKind(entry);
      await this.effects.apply(entry, record.decision, previous, record.inputs.percent);
      await this.log.markApplied(entry.id, this.clock.now());
    }
    const current = await this.rollouts.get(rollout.id);
    if (current && current.status === 'active' && current.testId === entry.testId) {
      await this.scheduler.schedule(current.id, entry.bucketStart + this.scheduler.bucketMs, this.clock.now().getTime());
    }
  }

  private async previousKind(entry: GuardDecisionEntry): Promise<string | null> {
    const before = await this.log.listDecisions(entry.rolloutId, { testId: entry.testId, limit: 1_000_000 });
    return before.filter((e) => e.sequence < entry.sequence).at(-1)?.kind ?? null;
  }

  /** The test's configuration and λ0 are fixed at its first evaluation and stored for replay. */
  private async ensureTest(rollout: RolloutRecord): Promise<GuardTest> {
    const existing = await this.log.getTest(rollout.id, rollout.testId);
    if (existing) return existing;
    const app = await this.apps.get(rollout.appId);
    const config = this.rolloutService.effectiveGuardConfig(app.guardDefaults, rollout.guard);
    const previous = (await this.releases.list(rollout.appId, 20))
      .filter((r) => r.version !== rollout.version && r.version !== rollout.baselineVersion && r.createdAt <= rollout.createdAt)
      .map((r) => r.version);
    const rates = await this.baselines.rates(
      { appId: rollout.appId, channel: rollout.channel, versionC: rollout.baselineVersion, config },
      previous,
      rollout.testStartedAt.getTime(),
    );
    return this.log.ensureTest({
      rolloutId: rollout.id,
      testId: rollout.testId,
      configJson: canonicalJson(config),
      configHash: configHash(config),
      baselineRatesJson: canonicalJson(rates),
      startedAt: rollout.testStartedAt,
    });
  }
}

function silentSinceOf(entry: GuardDecisionEntry): number | null {
  return (JSON.parse(entry.recordJson) as Evaluation['record']).health.silentSince;
}
