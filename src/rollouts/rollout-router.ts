import { Router, type Response } from 'express';
import type { AccessService } from '../access/access-service.js';
import { allowedChannels } from '../access/permissions.js';
import { canonicalJson } from '../crypto/canonical-json.js';
import { configHash } from '../guard/guard-config.js';
import type { components } from '../generated/api.js';
import { principalOf, requirePermission } from '../http/auth.js';
import { validate, type RequestValidators, type ValidatedRequest } from '../http/validation.js';
import type { ChannelService, GuardRecordsService } from './channel-service.js';
import type { RolloutService } from './rollout-service.js';
import type { RolloutStatus } from './rollout-store.js';
import { channelView, decisionView, incidentView, rolloutView } from './rollout-views.js';

type Schemas = components['schemas'];
type Action = 'pause' | 'advance' | 'rollback' | 'cancel';

export interface RolloutRouterDeps {
  rollouts: RolloutService;
  channels: ChannelService;
  guardRecords: GuardRecordsService;
  access: AccessService;
  validators: RequestValidators;
}

const input = (res: Response): ValidatedRequest => res.locals.input as ValidatedRequest;
const str = (value: unknown): string => String(value);

/** A channel-scoped key lists only its channels, whether or not it names one. */
function withinScope(res: Response): { channels?: readonly string[] } {
  const channels = allowedChannels(principalOf(res));
  return channels ? { channels } : {};
}

export function rolloutRouter(deps: RolloutRouterDeps): Router {
  const { rollouts, channels, guardRecords, access, validators } = deps;
  const router = Router();
  const base = '/v1/apps/:appId';

  router.put(`${base}/guard-defaults`, requirePermission(access, 'apps:write'), validate(validators, 'setGuardDefaults'), async (_req, res) => {
    const { params, body } = input(res);
    const effective = await rollouts.setGuardDefaults(str(params.appId), body as Record<string, unknown>, principalOf(res).keyId);
    res.json({ appId: str(params.appId), guardDefaults: body as Record<string, unknown>, effective: JSON.parse(canonicalJson(effective)) as object, configHash: configHash(effective) });
  });

  router.get(`${base}/channels`, requirePermission(access, 'rollouts:read'), validate(validators, 'listChannels'), async (_req, res) => {
    const list = await channels.list(str(input(res).params.appId), allowedChannels(principalOf(res)));
    res.json({ channels: list.map(channelView) });
  });

  for (const [suffix, blocked, op] of [['block', true, 'blockChannel'], ['unblock', false, 'unblockChannel']] as const) {
    router.post(`${base}/channels/:channel/${suffix}`, requirePermission(access, 'channels:write'), validate(validators, op), async (_req, res) => {
      const { params, body } = input(res);
      const reason = (body as Schemas['ChannelActionRequest'] | undefined)?.reason;
      const channel = await channels.setBlocked(str(params.appId), str(params.channel), blocked, principalOf(res).keyId, reason);
      res.json(channelView(channel));
    });
  }

  router.post(`${base}/rollouts`, requirePermission(access, 'rollouts:write'), validate(validators, 'createRollout'), async (_req, res) => {
    const { params, body } = input(res);
    const rollout = await rollouts.create(str(params.appId), body as Schemas['CreateRolloutRequest'], principalOf(res).keyId);
    res.status(201).json(rolloutView(rollout));
  });

  router.get(`${base}/rollouts`, requirePermission(access, 'rollouts:read'), validate(validators, 'listRollouts'), async (_req, res) => {
    const { params, query } = input(res);
    const filter = {
      ...(query.channel ? { channel: str(query.channel) } : {}),
      ...(query.status ? { status: query.status as RolloutStatus } : {}),
      ...withinScope(res),
    };
    const list = await rollouts.list(str(params.appId), filter, (query.limit as number | undefined) ?? 100);
    res.json({ rollouts: list.map(rolloutView) });
  });

  router.get(`${base}/rollouts/:id`, requirePermission(access, 'rollouts:read'), validate(validators, 'getRollout'), async (_req, res) => {
    const { params } = input(res);
    res.json(rolloutView(await rollouts.get(str(params.appId), str(params.id))));
  });

  for (const action of ['pause', 'advance', 'rollback', 'cancel'] as const satisfies readonly Action[]) {
    router.post(`${base}/rollouts/:id/${action}`, requirePermission(access, 'rollouts:write'), validate(validators, `${action}Rollout`), async (_req, res) => {
      const { params, body } = input(res);
      const principal = principalOf(res);
      const manual = { reason: (body as Schemas['RolloutActionRequest']).reason, actor: principal.keyId, channels: allowedChannels(principal) };
      res.json(rolloutView(await rollouts[action](str(params.appId), str(params.id), manual)));
    });
  }

  router.post(`${base}/rollouts/:id/resume`, requirePermission(access, 'rollouts:write'), validate(validators, 'resumeRollout'), async (_req, res) => {
    const { params, body } = input(res);
    const principal = principalOf(res);
    const request = body as Schemas['ResumeRolloutRequest'];
    const manual = { reason: request.reason, actor: principal.keyId, channels: allowedChannels(principal) };
    res.json(rolloutView(await rollouts.resume(str(params.appId), str(params.id), manual, request.percent)));
  });

  router.get(`${base}/rollouts/:id/decisions`, requirePermission(access, 'rollouts:read'), validate(validators, 'listRolloutDecisions'), async (_req, res) => {
    const { params, query } = input(res);
    const list = await guardRecords.decisions(str(params.appId), str(params.id), {
      ...(query.testId !== undefined ? { testId: query.testId as number } : {}),
      ...(query.after !== undefined ? { afterSequence: query.after as number } : {}),
      limit: (query.limit as number | undefined) ?? 100,
    });
    res.json({ decisions: list.map(decisionView) });
  });

  router.get(`${base}/incidents`, requirePermission(access, 'incidents:read'), validate(validators, 'listIncidents'), async (_req, res) => {
    const { params, query } = input(res);
    const filter = {
      ...(query.status ? { status: query.status as 'open' | 'acknowledged' | 'resolved' } : {}),
      ...(query.rolloutId ? { rolloutId: str(query.rolloutId) } : {}),
      ...withinScope(res),
    };
    const list = await guardRecords.incidentList(str(params.appId), filter, (query.limit as number | undefined) ?? 100);
    res.json({ incidents: list.map(incidentView) });
  });

  for (const [suffix, to, op] of [['acknowledge', 'acknowledged', 'acknowledgeIncident'], ['resolve', 'resolved', 'resolveIncident']] as const) {
    router.post(`${base}/incidents/:id/${suffix}`, requirePermission(access, 'incidents:write'), validate(validators, op), async (_req, res) => {
      const { params, body } = input(res);
      const note = (body as Schemas['IncidentActionRequest'] | undefined)?.note;
      res.json(incidentView(await guardRecords.setIncidentStatus(str(params.appId), str(params.id), to, principalOf(res).keyId, note)));
    });
  }

  return router;
}
