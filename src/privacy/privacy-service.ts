import { randomUUID } from 'node:crypto';
import type { AppService } from '../apps/app-service.js';
import type { AuditLog } from '../audit/audit-log.js';
import type { Clock } from '../clock.js';
import { newSecret, sha256Hex } from '../crypto/keys.js';
import type { Pseudonyms } from '../crypto/pseudonyms.js';
import { ConflictError, InvalidError, NotFoundError, UnavailableError } from '../errors.js';
import { extendedDeadline, initialDeadlines } from './deadlines.js';
import type { DeviceRequestLimit } from './device-request-limit.js';
import type { PrivacyRequestStore } from './privacy-request-store.js';
import { isOpen, OPEN_STATUSES, type Jurisdiction, type PrivacyRequest, type RequestStatus, type RequestType } from './privacy-types.js';

/** Who is asking: a privacy/admin API key (maybe scoped to apps) or a device holding a status token. */
export type Viewer = { kind: 'admin'; keyId: string; appIds: readonly string[] } | { kind: 'device'; appId: string; token?: string };

export interface CreateRequestInput {
  appId: string;
  /** Turned into the pid on the first line of `create`; never stored, logged or queued. */
  deviceId: string;
  type: RequestType;
  jurisdiction: Jurisdiction;
  receivedAt?: Date;
  notes?: string;
  purpose?: string;
}

export interface CreatedRequest {
  request: PrivacyRequest;
  /** The request is an earlier one for the same device and type, inside the duplicate window. */
  duplicate: boolean;
  /** Device requests only: shown once, stored as a hash. */
  statusToken?: string;
}

export interface ListFilter {
  status?: RequestStatus;
  overdue?: boolean;
  dueBefore?: Date;
  appId?: string;
  type?: RequestType;
  limit: number;
}

export interface PrivacyQueue {
  enqueue(requestId: string): Promise<void>;
}

const MAX_CLOCK_SKEW_MS = 5 * 60_000;
const ENQUEUE_TIMEOUT_MS = 5000;
const DEFAULT_OBJECTION_PURPOSE = 'telemetry';

export class PrivacyService {
  constructor(
    private readonly deps: {
      store: PrivacyRequestStore;
      apps: AppService;
      pseudonyms: Pseudonyms;
      audit: AuditLog;
      queue: PrivacyQueue;
      clock: Clock;
      duplicateWindowMs: number;
      deviceLimit: DeviceRequestLimit;
    },
  ) {}

  async create(input: CreateRequestInput, caller: Viewer): Promise<CreatedRequest> {
    const { store, clock } = this.deps;
    const pid = this.deps.pseudonyms.pid(input.appId, input.deviceId);
    const now = clock.now();
    const receivedAt = input.receivedAt ?? now;
    if (receivedAt.getTime() > now.getTime() + MAX_CLOCK_SKEW_MS) {
      throw new InvalidError('validation_failed', 'body.receivedAt is in the future', { field: 'body.receivedAt', reason: 'is in the future' });
    }
    if (input.type !== 'objection' && input.purpose !== undefined) {
      throw new InvalidError('validation_failed', 'body.purpose applies to objections only', { field: 'body.purpose', reason: 'applies to objections only' });
    }
    await this.deps.apps.get(input.appId);
    if (caller.kind === 'device') await this.deps.deviceLimit.consume(input.appId);

    const id = `prq_${randomUUID()}`;
    const statusToken = caller.kind === 'device' ? newSecret('ogt') : undefined;
    const key = { appId: input.appId, pid, type: input.type };
    const linked = await this.linkDuplicate(key, id, now);
    if (linked) {
      if (statusToken) await store.addStatusToken(linked.id, sha256Hex(statusToken));
      await this.audit(caller, 'privacy.request.duplicate', linked, { appId: input.appId, type: input.type, source: caller.kind });
      return { request: linked, duplicate: true, ...(statusToken ? { statusToken } : {}) };
    }

    const deadlines = initialDeadlines(input.jurisdiction, receivedAt);
    const request: PrivacyRequest = {
      id,
      appId: input.appId,
      pid,
      type: input.type,
      jurisdiction: input.jurisdiction,
      source: caller.kind,
      createdBy: caller.kind === 'admin' ? caller.keyId : `ingest:${caller.appId}`,
      status: 'received',
      receivedAt,
      ...deadlines,
      originalDueAt: deadlines.dueAt,
      ...(input.notes !== undefined ? { notes: input.notes } : {}),
      ...(input.type === 'objection' ? { purpose: input.purpose ?? DEFAULT_OBJECTION_PURPOSE } : {}),
      statusTokenHashes: statusToken ? [sha256Hex(statusToken)] : [],
      steps: [],
      notices: {},
      createdAt: now,
      updatedAt: now,
      rev: 0,
    };
    await store.insert(request);
    try {
      // A queue whose Redis connection was never up waits for it instead of failing: bound the wait.
      await Promise.race([
        this.deps.queue.enqueue(id),
        new Promise((_, reject) => setTimeout(() => reject(new Error('enqueue timed out')), ENQUEUE_TIMEOUT_MS).unref()),
      ]);
    } catch {
      // Nothing was acknowledged: leave no request behind that no job will ever run.
      await store.remove(id);
      await store.releaseClaim(key, id);
      throw new UnavailableError('The job queue is unavailable; retry later');
    }
    await this.audit(caller, 'privacy.request.create', request, {
      appId: input.appId,
      type: input.type,
      jurisdiction: input.jurisdiction,
      source: caller.kind,
      dueAt: request.dueAt.toISOString(),
    });
    return { request, duplicate: false, ...(statusToken ? { statusToken } : {}) };
  }

  /** The live earlier request this one duplicates, if any; otherwise `id` now holds the claim. */
  private async linkDuplicate(key: { appId: string; pid: string; type: RequestType }, id: string, now: Date): Promise<PrivacyRequest | null> {
    const { store, duplicateWindowMs } = this.deps;
    if (duplicateWindowMs <= 0) return null;
    const until = new Date(now.getTime() + duplicateWindowMs);
    for (let attempt = 0; attempt < 5; attempt++) {
      const holder = await store.claim(key, id, now, until);
      if (holder === id) return null;
      const first = await store.get(holder);
      if (first && first.status !== 'denied' && first.status !== 'failed') return first;
      if (await store.takeOverClaim(key, holder, id, until)) return null;
    }
    return null;
  }

  async list(filter: ListFilter, viewer: Extract<Viewer, { kind: 'admin' }>): Promise<PrivacyRequest[]> {
    if (filter.appId !== undefined && viewer.appIds.length > 0 && !viewer.appIds.includes(filter.appId)) return [];
    const now = this.deps.clock.now();
    let statuses: readonly RequestStatus[] | undefined = filter.status ? [filter.status] : undefined;
    let dueBefore = filter.dueBefore;
    if (filter.overdue === true) {
      statuses = (statuses ?? OPEN_STATUSES).filter((s) => OPEN_STATUSES.includes(s));
      dueBefore = dueBefore && dueBefore < now ? dueBefore : now;
    }
    return this.deps.store.list({
      appIds: viewer.appIds,
      ...(filter.appId !== undefined ? { appId: filter.appId } : {}),
      ...(statuses ? { statuses } : {}),
      ...(filter.type ? { type: filter.type } : {}),
      ...(dueBefore ? { dueBefore } : {}),
      ...(filter.overdue === false ? { notOverdueAt: now } : {}),
      limit: filter.limit,
    });
  }

  /** The request as `viewer` may see it; NotFound for another app's request or a wrong status token. */
  async get(id: string, viewer: Viewer): Promise<PrivacyRequest> {
    const request = await this.deps.store.get(id);
    if (!request || !visibleTo(request, viewer)) throw new NotFoundError('Privacy request', { id });
    return request;
  }

  async extend(id: string, reason: string, viewer: Extract<Viewer, { kind: 'admin' }>): Promise<PrivacyRequest> {
    const request = await this.get(id, viewer);
    const now = this.deps.clock.now();
    if (!isOpen(request.status)) throw new ConflictError('request_closed', `The request is ${request.status}`);
    if (request.extension) throw new ConflictError('already_extended', 'A request can be extended once');
    if (now > request.originalDueAt) {
      throw new ConflictError('extension_too_late', 'The extension must be recorded before the original due date');
    }
    const dueAt = extendedDeadline(request.jurisdiction, request.receivedAt);
    const updated = await this.deps.store.update(
      id,
      request.rev,
      { dueAt, extension: { reason, at: now, by: viewer.keyId, previousDueAt: request.dueAt }, notices: {}, updatedAt: now },
    );
    if (!updated) throw new ConflictError('request_changed', 'The request changed meanwhile; retry');
    await this.audit(viewer, 'privacy.request.extend', request, { dueAt: dueAt.toISOString(), previousDueAt: request.dueAt.toISOString() });
    return updated;
  }

  async deny(id: string, basis: string, viewer: Extract<Viewer, { kind: 'admin' }>): Promise<PrivacyRequest> {
    const request = await this.get(id, viewer);
    const now = this.deps.clock.now();
    if (!isOpen(request.status)) throw new ConflictError('request_closed', `The request is ${request.status}`);
    if (request.steps.some((step) => step.name === 'suppress' && step.status !== 'pending')) {
      throw new ConflictError('request_not_deniable', 'The device is already suppressed; the request can no longer be denied');
    }
    const updated = await this.deps.store.update(id, request.rev, { status: 'denied', denial: { basis, at: now, by: viewer.keyId }, updatedAt: now });
    if (!updated) throw new ConflictError('request_changed', 'The request changed meanwhile; retry');
    await this.deps.store.releaseClaim({ appId: request.appId, pid: request.pid, type: request.type }, id);
    await this.audit(viewer, 'privacy.request.deny', request, { basis });
    return updated;
  }

  private async audit(viewer: Viewer, action: string, request: { id: string; appId: string }, details: Record<string, unknown>): Promise<void> {
    const actor = viewer.kind === 'admin' ? viewer.keyId : `ingest:${viewer.appId}`;
    await this.deps.audit.record({ actor, action, target: `privacy-request:${request.id}`, appId: request.appId, details });
  }
}

export function isOverdue(request: PrivacyRequest, now: Date): boolean {
  return isOpen(request.status) && request.dueAt < now;
}

export function visibleTo(request: PrivacyRequest, viewer: Viewer): boolean {
  if (viewer.kind === 'admin') return viewer.appIds.length === 0 || viewer.appIds.includes(request.appId);
  return viewer.appId === request.appId && viewer.token !== undefined && request.statusTokenHashes.includes(sha256Hex(viewer.token));
}
