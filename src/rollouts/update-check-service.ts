import type { Clock } from '../clock.js';
import type { Pseudonyms } from '../crypto/pseudonyms.js';
import type { SuppressionGate } from '../ingest/suppression-gate.js';
import type { Logger } from '../logger.js';
import { nativeVersionAllowed } from '../releases/native-version.js';
import type { ReleaseService } from '../releases/release-service.js';
import type { ReleaseRecord } from '../releases/release-store.js';
import { inRollout } from './bucketing.js';
import type { ChannelStore } from './channel-store.js';
import type { Arm, ExposureStore } from './exposure-store.js';
import type { RolloutRecord, RolloutStore } from './rollout-store.js';

export interface UpdateCheckInput {
  deviceId: string;
  channel: string;
  platform: string;
  currentVersion: string;
  nativeVersion: string;
}

export type UpdateReason =
  | 'channel_blocked'
  | 'no_release'
  | 'up_to_date'
  | 'rollout'
  | 'rolled_back'
  | 'stable'
  | 'native_incompatible'
  | 'not_in_rollout';

export interface UpdateDecision {
  action: 'none' | 'update' | 'rollback';
  reason: UpdateReason;
  version?: string;
  url?: string;
  sha256?: string;
  signature?: string;
}

/** A device that checked for an update, as metrics counts it (active on `version`): a pid, never the device id. */
export interface CheckedDevice {
  appId: string;
  pid: string;
  version: string;
  channel: string;
  platform: string;
  /** The check's instant (epoch ms). */
  at: number;
}

/** Told of every update check of a device that is not suppressed; must only buffer (never slow the check) and never throw. */
export interface UpdateCheckListener {
  onUpdateCheck(check: CheckedDevice): void;
}

const none = (reason: UpdateReason): UpdateDecision => ({ action: 'none', reason });

/** The device-facing decision (see the README's decision table). The raw device id stops at `pid()`. */
export class UpdateCheckService {
  constructor(
    private readonly channels: ChannelStore,
    private readonly rollouts: RolloutStore,
    private readonly exposures: ExposureStore,
    private readonly releases: ReleaseService,
    private readonly pseudonyms: Pseudonyms,
    private readonly suppressions: SuppressionGate,
    private readonly clock: Clock,
    private readonly logger: Logger,
    /** Metrics: an update check makes the device active (see the README's Metrics section). */
    private readonly checks?: UpdateCheckListener,
  ) {}

  async check(appId: string, input: UpdateCheckInput): Promise<UpdateDecision> {
    const pid = this.pseudonyms.pid(appId, input.deviceId);
    const at = this.clock.now().getTime();
    // Looked up once, alongside the decision's reads: the exposure and the activity both skip suppressed
    // devices (from the database only when the app's suppression generation moved: see SuppressionGate).
    const token = this.suppressions.token(appId);
    const suppressed = token.then((t) => this.suppressions.suppressed(appId, [pid], t)).then((s) => s.size > 0);
    suppressed.catch(() => undefined);
    const decision = await this.decide(appId, input, pid, suppressed, token);
    await this.recordActivity(appId, input, pid, at, suppressed);
    return decision;
  }

  private async decide(
    appId: string,
    input: UpdateCheckInput,
    pid: string,
    suppressed: Promise<boolean>,
    token: Promise<string | undefined>,
  ): Promise<UpdateDecision> {
    const channel = await this.channels.get(appId, input.channel);
    if (!channel) return none('no_release');
    if (channel.blocked) return none('channel_blocked');

    const rollout = channel.activeRolloutId ? await this.rollouts.get(channel.activeRolloutId) : null;
    const open = rollout && (rollout.status === 'active' || rollout.status === 'paused') ? rollout : null;
    const offered = open !== null && open.status === 'active' && inRollout(open.id, pid, open.percentBp);
    if (open) await this.recordExposure(appId, open, pid, input.platform, offered ? 'U' : 'C', suppressed, token);

    if (open && input.currentVersion === open.version) return none('up_to_date');
    if (open && offered) {
      const release = await this.releases.find(appId, open.version);
      if (release && nativeVersionAllowed(input.nativeVersion, release)) return offer('update', 'rollout', release);
      // Incompatible with the new bundle: fall through to what the rest of the channel gets.
    }

    const rolledBack = await this.rollouts.findRolledBack(appId, input.channel, input.currentVersion);
    if (rolledBack) return this.rollbackTo(appId, rolledBack.baselineVersion);

    // A rollout still holding the slot as `completed` is the channel's version a moment before the slot frees.
    const completed = rollout?.status === 'completed' ? rollout.version : null;
    const target = completed ?? channel.stableVersion ?? open?.baselineVersion ?? null;
    if (target === null || input.currentVersion === target) return none(open ? 'not_in_rollout' : 'up_to_date');
    const release = await this.releases.find(appId, target);
    if (!release) return none(open ? 'not_in_rollout' : 'no_release');
    if (!nativeVersionAllowed(input.nativeVersion, release)) return none('native_incompatible');
    return offer('update', 'stable', release);
  }

  /** Back to the baseline: its bundle when it is a release, else the version alone (the embedded bundle). */
  private async rollbackTo(appId: string, baselineVersion: string): Promise<UpdateDecision> {
    const release = await this.releases.find(appId, baselineVersion);
    if (release) return offer('rollback', 'rolled_back', release);
    return { action: 'rollback', reason: 'rolled_back', version: baselineVersion };
  }

  /** Hands the check to metrics, which only buffers it; a device whose suppression is unknown is left out. */
  private async recordActivity(appId: string, input: UpdateCheckInput, pid: string, at: number, suppressed: Promise<boolean>): Promise<void> {
    if (!this.checks || (await suppressed.catch(() => true))) return;
    try {
      this.checks.onUpdateCheck({ appId, pid, version: input.currentVersion, channel: input.channel, platform: input.platform, at });
    } catch (err) {
      this.logger.warn({ err: (err as Error).name }, 'update check activity not recorded');
    }
  }

  /**
   * Best effort: the decision is served even if the write fails; suppressed devices are never recorded.
   * Like ingest, it checks suppression again after the write: an erasure that suppressed the device in
   * between (and may have finished deleting) leaves no exposure behind.
   */
  private async recordExposure(
    appId: string,
    rollout: RolloutRecord,
    pid: string,
    platform: string,
    arm: Arm,
    suppressed: Promise<boolean>,
    token: Promise<string | undefined>,
  ): Promise<void> {
    try {
      if (await suppressed) return;
      await this.exposures.record({ rolloutId: rollout.id, appId, pid, platform, arm }, this.clock.now());
      if ((await this.suppressions.suppressedSince(appId, [pid], await token)).size > 0) await this.exposures.remove(rollout.id, pid);
    } catch (err) {
      this.logger.warn({ rolloutId: rollout.id, err: (err as Error).name }, 'exposure not recorded');
    }
  }
}

function offer(action: 'update' | 'rollback', reason: UpdateReason, release: ReleaseRecord): UpdateDecision {
  return {
    action,
    reason,
    version: release.version,
    url: release.bundleUrl,
    sha256: release.sha256,
    ...(release.signature ? { signature: release.signature } : {}),
  };
}
