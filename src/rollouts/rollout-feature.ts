import type { Connection } from 'mongoose';
import type { AppService } from '../apps/app-service.js';
import type { AuditLog } from '../audit/audit-log.js';
import type { Clock } from '../clock.js';
import type { Pseudonyms } from '../crypto/pseudonyms.js';
import type { IdLookup } from '../ingest/id-lookup.js';
import type { SuppressionGate } from '../ingest/suppression-gate.js';
import type { Logger } from '../logger.js';
import type { Queues } from '../queues.js';
import { ReleaseService } from '../releases/release-service.js';
import { MongoReleaseStore } from '../releases/release-store.js';
import type { WebhookService } from '../webhooks/webhook-service.js';
import { ChannelService, GuardRecordsService } from './channel-service.js';
import { MongoChannelStore } from './channel-store.js';
import { MongoExposureStore } from './exposure-store.js';
import { GuardBaselines } from './guard-baseline.js';
import { GuardEffects } from './guard-effects.js';
import { MongoGuardEventSource } from './guard-event-source.js';
import { GuardInputLoader } from './guard-inputs.js';
import { MongoGuardLogStore, type GuardLogStore } from './guard-log-store.js';
import { GuardRunner } from './guard-runner.js';
import { GuardScheduler } from './guard-scheduler.js';
import { MongoIncidentStore } from './incident-store.js';
import { RolloutNotifier } from './rollout-notifier.js';
import { RolloutService } from './rollout-service.js';
import { MongoRolloutStore, type RolloutStore } from './rollout-store.js';
import { RolloutTransitions } from './rollout-transitions.js';
import { UpdateCheckService, type UpdateCheckListener } from './update-check-service.js';

/** Releases, channels, rollouts, the update check and the guard, wired once for the container. */
export interface RolloutFeature {
  releases: ReleaseService;
  rollouts: RolloutService;
  channels: ChannelService;
  guardRecords: GuardRecordsService;
  updateCheck: UpdateCheckService;
  guard: GuardRunner;
  scheduler: GuardScheduler;
  /** Stores the replay script and the scheduler read directly. */
  rolloutStore: RolloutStore;
  guardLog: GuardLogStore;
}

export interface RolloutFeatureDeps {
  mongo: Connection;
  queues: Queues;
  apps: AppService;
  audit: AuditLog;
  webhooks: WebhookService;
  pseudonyms: Pseudonyms;
  /** Suppression as the update check reads it (shared with ingest: see SuppressionGate). */
  suppressionGate: SuppressionGate;
  clock: Clock;
  logger: Logger;
  guardBucketSeconds: number;
  /** How to fetch many documents by _id on this server (FerretDB scans on `$in`). */
  idLookup?: IdLookup;
  /** Told of each update check (metrics counts the device active); the container passes the metrics aggregator. */
  updateChecks?: UpdateCheckListener;
}

export function createRolloutFeature(deps: RolloutFeatureDeps): RolloutFeature {
  const { mongo, apps, audit, webhooks, clock } = deps;
  const releases = new ReleaseService(new MongoReleaseStore(mongo), apps, clock);
  const channelStore = new MongoChannelStore(mongo);
  const rolloutStore = new MongoRolloutStore(mongo);
  const exposures = new MongoExposureStore(mongo, deps.idLookup);
  const incidents = new MongoIncidentStore(mongo);
  const guardLog = new MongoGuardLogStore(mongo);
  const scheduler = new GuardScheduler(deps.queues, deps.guardBucketSeconds * 1000);
  const transitions = new RolloutTransitions(rolloutStore, channelStore, exposures);
  const notifier = new RolloutNotifier(audit, webhooks);
  const rollouts = new RolloutService(rolloutStore, channelStore, transitions, releases, apps, scheduler, notifier, clock);
  const events = new MongoGuardEventSource(mongo);
  const loader = new GuardInputLoader(events, exposures, (bucketStart) => scheduler.cutoffOf(bucketStart));
  const effects = new GuardEffects(transitions, incidents, notifier, webhooks, clock);
  const guard = new GuardRunner(rolloutStore, rollouts, apps, releases, exposures, guardLog, loader, new GuardBaselines(events), effects, scheduler, clock);
  return {
    releases,
    rollouts,
    channels: new ChannelService(channelStore, apps, audit, clock),
    guardRecords: new GuardRecordsService(transitions, guardLog, incidents, apps, audit, clock),
    updateCheck: new UpdateCheckService(channelStore, rolloutStore, exposures, releases, deps.pseudonyms, deps.suppressionGate, clock, deps.logger, deps.updateChecks),
    guard,
    scheduler,
    rolloutStore,
    guardLog,
  };
}
