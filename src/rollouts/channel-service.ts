import type { AppService } from '../apps/app-service.js';
import type { AuditLog } from '../audit/audit-log.js';
import type { Clock } from '../clock.js';
import type { ChannelRecord, ChannelStore } from './channel-store.js';
import type { GuardDecisionEntry, GuardLogStore } from './guard-log-store.js';
import { ConflictError, NotFoundError } from '../errors.js';
import type { IncidentFilter, IncidentRecord, IncidentStatus, IncidentStore } from './incident-store.js';
import type { RolloutTransitions } from './rollout-transitions.js';

/** Channels (containment) and the read side of the guard: decision log and incidents. */
export class ChannelService {
  constructor(
    private readonly channels: ChannelStore,
    private readonly apps: AppService,
    private readonly audit: AuditLog,
    private readonly clock: Clock,
  ) {}

  /** `scope`: the caller's channels, when its key is channel-scoped. */
  async list(appId: string, scope?: readonly string[]): Promise<ChannelRecord[]> {
    await this.apps.get(appId);
    const all = await this.channels.list(appId);
    return scope ? all.filter((channel) => scope.includes(channel.name)) : all;
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
    private readonly audit: AuditLog,
    private readonly clock: Clock,
  ) {}

  /** open → acknowledged, or open/acknowledged → resolved; audited. 404 for another app's incident, 409 from a later state. */
  async setIncidentStatus(appId: string, id: string, to: 'acknowledged' | 'resolved', actor: string, note: string | undefined): Promise<IncidentRecord> {
    const from: IncidentStatus[] = to === 'acknowledged' ? ['open'] : ['open', 'acknowledged'];
    const updated = await this.incidents.setStatus(appId, id, from, to, { at: this.clock.now(), by: actor, ...(note !== undefined ? { note } : {}) });
    if (!updated) {
      const current = await this.incidents.get(id);
      if (!current || current.appId !== appId) throw new NotFoundError('Incident', { id });
      throw new ConflictError('incident_state', `The incident is already ${current.status}`, { status: current.status });
    }
    await this.audit.record({
      actor,
      action: to === 'acknowledged' ? 'incident.acknowledge' : 'incident.resolve',
      target: `incident:${id}`,
      appId,
      details: { rolloutId: updated.rolloutId, note: note ?? null },
    });
    return updated;
  }

  async decisions(appId: string, rolloutId: string, options: { testId?: number; afterSequence?: number; limit: number }): Promise<GuardDecisionEntry[]> {
    await this.transitions.load(appId, rolloutId);
    return this.log.listDecisions(rolloutId, options);
  }

  async incidentList(appId: string, filter: IncidentFilter, limit: number): Promise<IncidentRecord[]> {
    await this.apps.get(appId);
    return this.incidents.list(appId, filter, limit);
  }
}
