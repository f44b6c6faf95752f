import { ConflictError, NotFoundError } from '../errors.js';
import { FULL_BP } from './bucketing.js';
import type { ChannelStore } from './channel-store.js';
import type { ExposureStore } from './exposure-store.js';
import type { RolloutAction, RolloutRecord, RolloutStatus, RolloutStore } from './rollout-store.js';

export type Change = Partial<Omit<RolloutRecord, 'id' | 'rev'>>;

/** The step after the current percentage, or null when the rollout is at 100 % (advancing completes it). */
export function nextStepBp(rollout: Pick<RolloutRecord, 'percentBp' | 'stepsBp' | 'resumePercentBp'>): number | null {
  const current = rollout.percentBp > 0 ? rollout.percentBp : (rollout.resumePercentBp ?? 0);
  if (current >= FULL_BP) return null;
  return rollout.stepsBp.find((step) => step > current) ?? FULL_BP;
}

/**
 * Compare-and-set state changes of one rollout, plus what must follow a terminal one: the channel's
 * rollout slot is freed and the rollout's exposure records (pids) are deleted.
 */
export class RolloutTransitions {
  constructor(
    private readonly rollouts: RolloutStore,
    private readonly channels: ChannelStore,
    private readonly exposures: ExposureStore,
  ) {}

  async load(appId: string | null, id: string): Promise<RolloutRecord> {
    const rollout = await this.rollouts.get(id);
    if (!rollout || (appId !== null && rollout.appId !== appId)) throw new NotFoundError('Rollout', { id });
    return rollout;
  }

  /**
   * Re-reads and retries on a lost race. `plan` returns the change, or null to leave the rollout as is
   * (then `apply` returns null); it throws a ConflictError when the rollout is in the wrong state.
   */
  async apply(
    appId: string | null,
    id: string,
    plan: (rollout: RolloutRecord) => { change: Change; action: Omit<RolloutAction, 'fromPercentBp' | 'toPercentBp' | 'at'> } | null,
    now: Date,
  ): Promise<RolloutRecord | null> {
    for (let attempt = 0; attempt < 10; attempt++) {
      const current = await this.load(appId, id);
      const planned = plan(current);
      if (!planned) return null;
      const toPercentBp = planned.change.percentBp ?? current.percentBp;
      const lastAction: RolloutAction = { ...planned.action, at: now, fromPercentBp: current.percentBp, toPercentBp };
      const status = planned.change.status ?? current.status;
      const terminal = status !== 'active' && status !== 'paused';
      const reopening = (current.status === 'rolled_back' || current.status === 'cancelled') && !terminal;
      if (reopening && !(await this.claimSlot(current, now))) {
        throw new ConflictError('channel_busy', `Channel ${current.channel} already has an open rollout`);
      }
      const updated = await this.rollouts.update(id, current.rev, {
        ...planned.change,
        lastAction,
        updatedAt: now,
        ...(terminal ? { endedAt: now } : { endedAt: null }),
      });
      if (!updated) {
        if (reopening) await this.channels.swapRolloutSlot(current.appId, current.channel, id, null, now);
        continue;
      }
      if (terminal && current.status !== status) {
        // The channel's version moves before the slot is freed; until then the update check reads the
        // completed rollout from the slot, so no device ever sees a gap or an older version.
        if (status === 'completed') await this.channels.setStableVersion(updated.appId, updated.channel, updated.version, now);
        await this.channels.swapRolloutSlot(updated.appId, updated.channel, id, null, now);
        await this.exposures.deleteForRollout(id);
      }
      return updated;
    }
    throw new ConflictError('rollout_busy', 'The rollout is being changed concurrently; retry');
  }

  /** Takes the channel's slot, first reclaiming it from a rollout that no longer holds it legitimately. */
  async claimSlot(rollout: Pick<RolloutRecord, 'appId' | 'channel' | 'id'>, now: Date): Promise<boolean> {
    const { appId, channel, id } = rollout;
    if (await this.channels.swapRolloutSlot(appId, channel, null, id, now)) return true;
    const holder = (await this.channels.get(appId, channel))?.activeRolloutId ?? null;
    if (holder === id) return true;
    if (holder === null) return this.channels.swapRolloutSlot(appId, channel, null, id, now);
    // A process that died between taking the slot and writing its rollout leaves a dangling holder.
    const held = await this.rollouts.get(holder);
    if (held && isOpen(held.status)) return false;
    return this.channels.swapRolloutSlot(appId, channel, holder, id, now);
  }
}

export function isOpen(status: RolloutStatus): boolean {
  return status === 'active' || status === 'paused';
}

export function requireStatus(rollout: RolloutRecord, allowed: readonly RolloutStatus[], action: string): void {
  if (!allowed.includes(rollout.status)) {
    throw new ConflictError('rollout_state', `Cannot ${action} a rollout that is ${rollout.status}`, {
      status: rollout.status,
      allowed,
    });
  }
}
