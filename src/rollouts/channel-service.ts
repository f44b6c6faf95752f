import type { AppService } from '../apps/app-service.js';
import type { AuditLog } from '../audit/audit-log.js';
import type { Clock } from '../clock.js';
import type { ChannelRecord, ChannelStore } from './channel-store.js';
import type { GuardDecisionEntry, GuardLogStore } from './guard-log-store.js';
import type { IncidentFilter, IncidentRecord, IncidentStore } from './incident-store.js';
import type { RolloutTransitions } from './rollout-transitions.js';

/** Channels (containment) and the read side of the guard: decision log and incidents. */
export class ChannelService {
  constructor(
    private readonly channels: ChannelStore,
    private readonly apps: AppService,
    private readonly audit: AuditLog,
    private readonly clock: Clock,
  ) {}

  async list(appId: string): Promise<ChannelRecord[]> {
    await this.apps.get(appId);
    return this.channels.list(appId);
  }

  async setBlocked(appId: string, name: string, blocked: boolean, actor: string, reason: string | undefined): Promise<ChannelRecord> {
    await this.apps.get(appId);
    const channel = await this.channels.setBlocked(appId, name, blocked, this.clock.now());
    await this.audit.record({
      actor,
      action: blocked ? 'channel.block' : 'channel.unblock',
      target: `channel:${appId}:${name}`,
      appId,
      details: { reason: reason ?? null },
    });
    return channel;
  }
}

export class GuardRecordsService {
  constructor(
    private readonly transitions: RolloutTransitions,
    private readonly log: GuardLogStore,
    private readonly incidents: IncidentStore,
    private readonly apps: AppService,
  ) {}

  async decisions(appId: string, rolloutId: string, options: { testId?: number; afterSequence?: number; limit: number }): Promise<GuardDecisionEntry[]> {
    await this.transitions.load(appId, rolloutId);
    return this.log.listDecisions(rolloutId, options);
  }

  async incidentList(appId: string, filter: IncidentFilter, limit: number): Promise<IncidentRecord[]> {
    await this.apps.get(appId);
    return this.incidents.list(appId, filter, limit);
  }
}
