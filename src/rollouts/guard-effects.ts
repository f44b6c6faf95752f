import { SYSTEM_ACTOR } from '../audit/audit-log.js';
import type { Clock } from '../clock.js';
import { sha256Hex } from '../crypto/keys.js';
import type { Decision } from '../guard/guard-types.js';
import type { WebhookService } from '../webhooks/webhook-service.js';
import type { GuardDecisionEntry } from './guard-log-store.js';
import type { IncidentRecord, IncidentStore } from './incident-store.js';
import type { RolloutNotifier } from './rollout-notifier.js';
import { planAdvance } from './rollout-service.js';
import type { RolloutRecord } from './rollout-store.js';
import type { Change, RolloutTransitions } from './rollout-transitions.js';

type Plan = Parameters<RolloutTransitions['apply']>[2];

/**
 * What a guard decision does to the world. Every step is idempotent, so a job retried after a crash
 * half-way re-applies the decision without a second rollback, incident or webhook: state changes are
 * compare-and-set on the rollout's test, the incident id and webhook keys derive from the decision id.
 */
export class GuardEffects {
  constructor(
    private readonly transitions: RolloutTransitions,
    private readonly incidents: IncidentStore,
    private readonly notifier: RolloutNotifier,
    private readonly webhooks: WebhookService,
    private readonly clock: Clock,
  ) {}

  async apply(entry: GuardDecisionEntry, decision: Decision, previousKind: string | null, percentEvaluated: number): Promise<void> {
    switch (decision.kind) {
      case 'fail':
        return this.fail(entry, decision);
      case 'pause_data':
        return void (await this.change(entry, decision.reason, () => ({ status: 'paused' }), 'pause'));
      case 'pass':
        return this.pass(entry, decision, percentEvaluated);
      case 'warn':
      case 'hold_inconclusive':
        if (previousKind === decision.kind) return;
        await this.webhooks.publishOnce(entry.id, 'rollout.warning', this.alert(entry, decision), entry.appId);
        return;
      default:
        return;
    }
  }

  private async fail(entry: GuardDecisionEntry, decision: Decision): Promise<void> {
    const rollback = decision.action === 'rollback';
    const changed = await this.change(
      entry,
      decision.reason,
      (r) => ({ status: rollback ? 'rolled_back' : 'paused', percentBp: 0, resumePercentBp: r.percentBp > 0 ? r.percentBp : r.resumePercentBp, failedTestId: entry.testId }),
      rollback ? 'rollback' : 'pause',
      { notify: false },
    );
    const rollout = changed ?? (await this.transitions.load(entry.appId, entry.rolloutId));
    // Already applied by an earlier attempt that was then interrupted: finish its notifications.
    const ours = changed !== null || (rollout.failedTestId === entry.testId && rollout.lastAction.actor === SYSTEM_ACTOR);
    if (!ours) return;
    const incident: IncidentRecord = {
      id: `inc_${digest(entry.id)}`,
      appId: rollout.appId,
      rolloutId: rollout.id,
      channel: rollout.channel,
      version: rollout.version,
      baselineVersion: rollout.baselineVersion,
      metric: decision.trigger?.metric ?? null,
      segment: decision.trigger?.segment ?? null,
      detector: decision.trigger?.detector ?? 'sprt',
      evidence: decision.evidence ? { ...decision.evidence } : null,
      action: rollback ? 'rolled_back' : 'paused',
      reason: decision.reason,
      decisionId: entry.id,
      status: 'open',
      openedAt: new Date(decision.at),
    };
    await this.incidents.open(incident);
    await this.webhooks.publishOnce(`${entry.id}:incident`, 'incident.opened', { incidentId: incident.id, ...this.alert(entry, decision), action: incident.action }, rollout.appId);
    await this.notifier.changed(rollout, { incidentId: incident.id, decisionId: entry.id, evidence: decision.evidence }, entry.id);
  }

  private async pass(entry: GuardDecisionEntry, decision: Decision, percentEvaluated: number): Promise<void> {
    const now = this.clock.now();
    const plan: Plan = (r) => {
      // Only the step that baked: a human who advanced meanwhile has already moved it on.
      if (r.status !== 'active' || r.testId !== entry.testId || r.percentBp / 100 !== percentEvaluated) return null;
      return planAdvance(r, SYSTEM_ACTOR, decision.reason, now);
    };
    const updated = await this.transitions.apply(entry.appId, entry.rolloutId, plan, now);
    if (!updated) return;
    await this.notifier.changed(updated, { decisionId: entry.id }, entry.id);
  }

  /** A system change of an active rollout of this test; null when it no longer applies. */
  private async change(
    entry: GuardDecisionEntry,
    reason: string,
    change: (r: RolloutRecord) => Change,
    action: 'pause' | 'rollback',
    options: { notify: boolean } = { notify: true },
  ): Promise<RolloutRecord | null> {
    const now = this.clock.now();
    const updated = await this.transitions.apply(
      entry.appId,
      entry.rolloutId,
      (r) => (r.status === 'active' && r.testId === entry.testId ? { change: change(r), action: { action, actor: SYSTEM_ACTOR, reason } } : null),
      now,
    );
    if (updated && options.notify) await this.notifier.changed(updated, { decisionId: entry.id }, entry.id);
    return updated;
  }

  private alert(entry: GuardDecisionEntry, decision: Decision): Record<string, unknown> {
    return {
      rolloutId: entry.rolloutId,
      decisionId: entry.id,
      kind: decision.kind,
      reason: decision.reason,
      metric: decision.trigger?.metric ?? null,
      segment: decision.trigger?.segment ?? null,
      detector: decision.trigger?.detector ?? null,
      evidence: decision.evidence,
    };
  }
}

function digest(text: string): string {
  return sha256Hex(text).slice(0, 24);
}
