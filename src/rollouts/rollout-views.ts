import type { components } from '../generated/api.js';
import type { ReleaseRecord } from '../releases/release-store.js';
import { bpToPercent } from './bucketing.js';
import type { ChannelRecord } from './channel-store.js';
import type { GuardDecisionEntry } from './guard-log-store.js';
import type { IncidentRecord } from './incident-store.js';
import type { RolloutRecord } from './rollout-store.js';

type Schemas = components['schemas'];

export function releaseView(r: ReleaseRecord): Schemas['Release'] {
  return {
    id: r.id,
    appId: r.appId,
    version: r.version,
    bundleUrl: r.bundleUrl,
    sha256: r.sha256,
    ...(r.signature ? { signature: r.signature } : {}),
    ...(r.minNativeVersion ? { minNativeVersion: r.minNativeVersion } : {}),
    ...(r.maxNativeVersion ? { maxNativeVersion: r.maxNativeVersion } : {}),
    ...(r.notes ? { notes: r.notes } : {}),
    createdAt: r.createdAt.toISOString(),
  };
}

export function channelView(c: ChannelRecord): Schemas['Channel'] {
  return { appId: c.appId, name: c.name, blocked: c.blocked, currentVersion: c.stableVersion, activeRolloutId: c.activeRolloutId };
}

export function rolloutView(r: RolloutRecord): Schemas['Rollout'] {
  return {
    id: r.id,
    appId: r.appId,
    channel: r.channel,
    version: r.version,
    baselineVersion: r.baselineVersion,
    status: r.status,
    percent: bpToPercent(r.percentBp),
    steps: r.stepsBp.map(bpToPercent),
    stepStartedAt: r.stepStartedAt.toISOString(),
    guard: r.guard,
    testId: r.testId,
    lastAction: { action: r.lastAction.action, actor: r.lastAction.actor, reason: r.lastAction.reason, at: new Date(r.lastAction.at).toISOString() },
    createdAt: r.createdAt.toISOString(),
    updatedAt: r.updatedAt.toISOString(),
    endedAt: r.endedAt ? r.endedAt.toISOString() : null,
  };
}

export function incidentView(i: IncidentRecord): Schemas['Incident'] {
  return {
    id: i.id,
    appId: i.appId,
    rolloutId: i.rolloutId,
    channel: i.channel,
    version: i.version,
    baselineVersion: i.baselineVersion,
    metric: i.metric,
    segment: i.segment,
    detector: i.detector,
    evidence: i.evidence,
    action: i.action,
    reason: i.reason,
    decisionId: i.decisionId,
    status: i.status,
    openedAt: i.openedAt.toISOString(),
    ...(i.statusChangedAt ? { statusChangedAt: i.statusChangedAt.toISOString(), statusChangedBy: i.statusChangedBy ?? null, note: i.note ?? null } : {}),
  };
}

export function decisionView(d: GuardDecisionEntry): Schemas['GuardDecision'] {
  return {
    id: d.id,
    rolloutId: d.rolloutId,
    testId: d.testId,
    sequence: d.sequence,
    bucketStart: new Date(d.bucketStart).toISOString(),
    kind: d.kind as Schemas['GuardDecision']['kind'],
    action: d.action as Schemas['GuardDecision']['action'],
    record: JSON.parse(d.recordJson) as Record<string, unknown>,
    appliedAt: d.appliedAt ? d.appliedAt.toISOString() : null,
  };
}
