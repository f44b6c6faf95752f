import { configHash } from '../guard/guard-config.js';
import { randomUUID } from 'node:crypto';
import type { AppService } from '../apps/app-service.js';
import type { Clock } from '../clock.js';
import { ConflictError, ForbiddenError, UnprocessableError } from '../errors.js';
import { InvalidGuardConfigError, resolveGuardConfig, type GuardConfig, type GuardConfigOverrides } from '../guard/guard-config.js';
import type { ReleaseService } from '../releases/release-service.js';
import { FULL_BP, percentToBp } from './bucketing.js';
import type { ChannelStore } from './channel-store.js';
import type { GuardScheduler } from './guard-scheduler.js';
import type { RolloutNotifier } from './rollout-notifier.js';
import type { RolloutFilter, RolloutRecord, RolloutStore } from './rollout-store.js';
import { nextStepBp, requireStatus, type RolloutTransitions } from './rollout-transitions.js';

export const DEFAULT_STEPS_PERCENT = [1, 5, 20, 50, 100];

export interface CreateRolloutInput {
  channel: string;
  version: string;
  baselineVersion?: string;
  percent: number;
  steps?: number[];
  guard?: Record<string, unknown>;
}

export interface ManualAction {
  reason: string;
  actor: string;
  /** Channels the caller may act on; undefined = every channel. */
  channels?: readonly string[];
}

/** Rollout lifecycle driven by people: create, pause, resume, advance, roll back, cancel. */
export class RolloutService {
  constructor(
    private readonly rollouts: RolloutStore,
    private readonly channels: ChannelStore,
    private readonly transitions: RolloutTransitions,
    private readonly releases: ReleaseService,
    private readonly apps: AppService,
    private readonly scheduler: GuardScheduler,
    private readonly notifier: RolloutNotifier,
    private readonly clock: Clock,
  ) {}

  async create(appId: string, input: CreateRolloutInput, actor: string): Promise<RolloutRecord> {
    const app = await this.apps.get(appId);
    if (!(await this.releases.find(appId, input.version))) {
      throw new UnprocessableError('release_not_found', `No release ${input.version} for this app`, { field: 'body.version' });
    }
    const now = this.clock.now();
    const channel = await this.channels.ensure(appId, input.channel, now);
    const baselineVersion = input.baselineVersion ?? channel.stableVersion;
    if (!baselineVersion) {
      throw new UnprocessableError('baseline_required', 'The channel has no current version yet: give baselineVersion', { field: 'body.baselineVersion' });
    }
    if (baselineVersion === input.version) {
      throw new UnprocessableError('baseline_is_version', 'baselineVersion must differ from version', { field: 'body.baselineVersion' });
    }
    const stepsBp = normaliseSteps(input.steps ?? DEFAULT_STEPS_PERCENT);
    this.effectiveGuardConfig(app.guardDefaults, input.guard ?? {});
    const rollout: RolloutRecord = {
      id: `ro_${randomUUID()}`,
      appId,
      channel: input.channel,
      version: input.version,
      baselineVersion,
      status: 'active',
      percentBp: percentToBp(input.percent),
      stepsBp,
      stepStartedAt: now,
      resumePercentBp: null,
      guard: input.guard ?? {},
      testId: 1,
      testStartedAt: now,
      failedTestId: null,
      rev: 1,
      lastAction: { action: 'create', actor, reason: 'created', at: now, fromPercentBp: 0, toPercentBp: percentToBp(input.percent) },
      createdAt: now,
      updatedAt: now,
      endedAt: null,
    };
    if (!(await this.transitions.claimSlot(rollout, now))) {
      throw new ConflictError('channel_busy', `Channel ${input.channel} already has an open rollout`, { field: 'body.channel' });
    }
    try {
      await this.rollouts.insert(rollout);
    } catch (err) {
      await this.channels.swapRolloutSlot(appId, input.channel, rollout.id, null, now);
      throw err;
    }
    await this.notifier.changed(rollout);
    await this.scheduler.scheduleCurrent(rollout.id, now.getTime());
    return rollout;
  }

  /**
   * The guard configuration of a rollout: spec defaults ← app defaults ← rollout overrides, with the
   * bucket length fixed by GUARD_BUCKET_SECONDS. Invalid overrides are a 422.
   */
  effectiveGuardConfig(appDefaults: Record<string, unknown>, overrides: Record<string, unknown>): GuardConfig {
    try {
      return resolveGuardConfig(appDefaults as GuardConfigOverrides, { ...(overrides as GuardConfigOverrides), bucketMs: this.scheduler.bucketMs });
    } catch (err) {
      if (err instanceof InvalidGuardConfigError) throw new UnprocessableError('guard_config_invalid', err.message, { field: 'body.guard' });
      throw err;
    }
  }

  /** Validates and stores the app's guard defaults; returns the effective configuration a new rollout gets. */
  async setGuardDefaults(appId: string, defaults: Record<string, unknown>, actor: string): Promise<GuardConfig> {
    await this.apps.get(appId);
    const effective = this.effectiveGuardConfig(defaults, {});
    await this.apps.setGuardDefaults(appId, defaults);
    await this.notifier.guardDefaultsChanged(appId, actor, configHash(effective));
    return effective;
  }

  async get(appId: string, id: string): Promise<RolloutRecord> {
    return this.transitions.load(appId, id);
  }

  async list(appId: string, filter: RolloutFilter, limit: number): Promise<RolloutRecord[]> {
    await this.apps.get(appId);
    return this.rollouts.list(appId, filter, limit);
  }

  async pause(appId: string, id: string, { reason, actor, channels }: ManualAction): Promise<RolloutRecord> {
    return this.manual(appId, id, channels, (r) => {
      requireStatus(r, ['active'], 'pause');
      return { change: { status: 'paused' }, action: { action: 'pause', actor, reason } };
    });
  }

  /** After a guard failure or a rollback, resuming starts a fresh guard test. */
  async resume(appId: string, id: string, { reason, actor, channels }: ManualAction, percent?: number): Promise<RolloutRecord> {
    const now = this.clock.now();
    const rollout = await this.manual(appId, id, channels, (r) => {
      requireStatus(r, ['paused', 'rolled_back'], 'resume');
      const freshTest = r.status === 'rolled_back' || r.failedTestId === r.testId;
      const percentBp = percent !== undefined ? percentToBp(percent) : r.percentBp > 0 ? r.percentBp : (r.resumePercentBp ?? r.stepsBp[0] ?? FULL_BP);
      return {
        change: {
          status: 'active',
          percentBp,
          stepStartedAt: now,
          ...(freshTest ? { testId: r.testId + 1, testStartedAt: now, failedTestId: null } : {}),
        },
        action: { action: 'resume', actor, reason },
      };
    });
    await this.scheduler.scheduleCurrent(rollout.id, now.getTime());
    return rollout;
  }

  /** To the next step; at 100 % advancing completes the rollout and makes its version the channel's. */
  async advance(appId: string, id: string, { reason, actor, channels }: ManualAction): Promise<RolloutRecord> {
    return this.manual(appId, id, channels, (r) => {
      requireStatus(r, ['active'], 'advance');
      return planAdvance(r, actor, reason, this.clock.now());
    });
  }

  async rollback(appId: string, id: string, { reason, actor, channels }: ManualAction): Promise<RolloutRecord> {
    return this.manual(appId, id, channels, (r) => {
      requireStatus(r, ['active', 'paused'], 'roll back');
      return {
        change: { status: 'rolled_back', percentBp: 0, resumePercentBp: r.percentBp > 0 ? r.percentBp : r.resumePercentBp },
        action: { action: 'rollback', actor, reason },
      };
    });
  }

  async cancel(appId: string, id: string, { reason, actor, channels }: ManualAction): Promise<RolloutRecord> {
    return this.manual(appId, id, channels, (r) => {
      requireStatus(r, ['active', 'paused'], 'cancel');
      return { change: { status: 'cancelled' }, action: { action: 'cancel', actor, reason } };
    });
  }

  private async manual(
    appId: string,
    id: string,
    channels: readonly string[] | undefined,
    plan: Parameters<RolloutTransitions['apply']>[2],
  ): Promise<RolloutRecord> {
    const now = this.clock.now();
    const guarded: typeof plan = (r) => {
      if (channels && !channels.includes(r.channel)) throw new ForbiddenError('This key is not scoped to the rollout\'s channel');
      return plan(r);
    };
    const updated = await this.transitions.apply(appId, id, guarded, now);
    if (!updated) throw new Error('manual rollout action planned no change');
    await this.notifier.changed(updated);
    return updated;
  }
}

export function planAdvance(
  r: RolloutRecord,
  actor: string,
  reason: string,
  now: Date,
): { change: Partial<RolloutRecord>; action: { action: 'advance' | 'complete'; actor: string; reason: string } } {
  const next = nextStepBp(r);
  if (next === null) return { change: { status: 'completed' }, action: { action: 'complete', actor, reason } };
  return { change: { percentBp: next, stepStartedAt: now }, action: { action: 'advance', actor, reason } };
}

/** Percent steps → ascending basis points ending at 100 %. */
export function normaliseSteps(percents: readonly number[]): number[] {
  const bp = [...new Set(percents.map(percentToBp))].filter((step) => step > 0).sort((a, b) => a - b);
  if (bp.at(-1) !== FULL_BP) bp.push(FULL_BP);
  return bp;
}
