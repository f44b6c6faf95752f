import type { Connection } from 'mongoose';
import type { AuditLog } from '../audit/audit-log.js';
import { SYSTEM_ACTOR } from '../audit/audit-log.js';
import type { Clock } from '../clock.js';
import { canonicalJson } from '../crypto/canonical-json.js';
import type { ErasureSteps } from './erasure-steps.js';
import type { ExportArchive } from './export-archive.js';
import { PermanentStepError, type ExportSteps } from './export-steps.js';
import { pidCollections } from './pid-registry.js';
import type { PrivacyRequestStore, RequestChanges } from './privacy-request-store.js';
import type { PrivacyRequest, RequestStatus, StepState } from './privacy-types.js';

/** The request was denied (or removed) while the job ran: stop quietly. */
class RequestStopped extends Error {}

export interface Attempt {
  number: number;
  /** No retry follows this one: a failure now is final and shown on the request. */
  final: boolean;
}

/** Error messages are stored and logged: strip anything shaped like a pid (64 hex digits). */
export const redactPids = (message: string): string => message.replace(/[0-9a-f]{64}/gi, '[pid]');

/** The steps of a request, fixed when processing starts and persisted with it. */
export function planSteps(request: PrivacyRequest, connection: Connection): StepState[] {
  const collections = pidCollections(connection);
  const names =
    request.type === 'access' || request.type === 'export'
      ? [...collections.map((c) => `export:${c.collectionName}`), 'manifest']
      : request.type === 'delete'
        ? ['suppress', 'purge-exports', ...collections.filter((c) => !c.meta.keepOnErasure).map((c) => `erase:${c.collectionName}`), 'verify-erasure', 'receipt']
        : ['suppress'];
  return names.map((name) => ({ name, status: 'pending', attempts: 0 }));
}

/**
 * Runs a privacy request as checkpointed steps. Every step's progress is written to the request before
 * the next begins, so a worker killed anywhere resumes at the unfinished step: an export file is
 * rewritten from its start, a deletion resumes with the count it took before deleting.
 */
export class PrivacyProcessor {
  constructor(
    private readonly deps: {
      store: PrivacyRequestStore;
      connection: Connection;
      exports: ExportSteps;
      erasure: ErasureSteps;
      archive: ExportArchive;
      audit: AuditLog;
      clock: Clock;
    },
  ) {}

  async run(id: string, attempt: Attempt): Promise<RequestStatus | 'stopped'> {
    let request = await this.deps.store.get(id);
    if (!request) throw new PermanentStepError('privacy request not found');
    if (request.status === 'completed' || request.status === 'denied' || request.status === 'failed') return request.status;
    try {
      if (request.status === 'received') {
        request = await this.save(request, {}, { status: 'verified' });
        await this.audit('privacy.request.verified', request, { method: request.source === 'device' ? 'possession of the device id' : 'operator' });
      }
      if (request.status === 'verified') {
        request = await this.save(request, {}, { status: 'processing', steps: planSteps(request, this.deps.connection) });
        await this.audit('privacy.request.processing', request, { steps: request.steps.map((s) => s.name) });
      }
      for (const name of request.steps.map((s) => s.name)) {
        const step = request.steps.find((s) => s.name === name)!;
        if (step.status !== 'done') request = await this.runStep(request, step);
      }
      request = await this.save(request, {}, { status: 'completed', completedAt: this.deps.clock.now() });
      await this.audit('privacy.request.completed', request, {});
      return 'completed';
    } catch (err) {
      if (err instanceof RequestStopped) {
        const latest = await this.deps.store.get(id);
        if (latest) await this.deps.archive.purge(latest, this.deps.clock.now());
        return 'stopped';
      }
      const message = redactPids(err instanceof Error ? err.message : String(err));
      if (err instanceof PermanentStepError || attempt.final) {
        await this.fail(id, err instanceof PermanentStepError ? 'permanent_error' : 'retries_exhausted', message);
        throw new PermanentStepError(message);
      }
      await this.deps.store.noteError(id, { message, at: this.deps.clock.now(), attempt: attempt.number });
      throw err;
    }
  }

  private async runStep(request: PrivacyRequest, step: StepState): Promise<PrivacyRequest> {
    const { exports, erasure, clock } = this.deps;
    const name = step.name;
    request = await this.save(request, { [name]: { status: 'running', attempts: step.attempts + 1, startedAt: step.startedAt ?? clock.now() } });
    const done = (extra: Partial<StepState> = {}): Partial<StepState> => ({ ...extra, status: 'done', doneAt: clock.now() });
    const [kind, collection = ''] = name.split(/:(.*)/s);
    switch (kind) {
      case 'export': {
        const { records, parts } = await exports.exportCollection(request, collection, step.attempts > 0);
        request = await this.save(request, { [name]: done({ records, parts }) });
        break;
      }
      case 'manifest': {
        const { part, generatedAt, expiresAt } = await exports.writeManifest(request, step.attempts > 0);
        const dataParts = request.steps.flatMap((s) => (s.name.startsWith('export:') ? (s.parts ?? []) : []));
        request = await this.save(request, { [name]: done({ parts: [part] }) }, { export: { generatedAt, expiresAt, parts: [part, ...dataParts] } });
        break;
      }
      case 'suppress':
        await erasure.suppress(request);
        request = await this.save(request, { [name]: done() });
        break;
      case 'purge-exports':
        request = await this.save(request, { [name]: done({ records: await erasure.purgeExports(request) }) });
        break;
      case 'erase': {
        // The count is taken once, after suppression and before deleting; a crash mid-delete keeps it.
        const deleted = await erasure.erase(request, collection, step.records, async (records) => {
          request = await this.save(request, { [name]: { records } });
        });
        request = await this.save(request, { [name]: done({ deleted: (step.deleted ?? 0) + deleted }) });
        break;
      }
      case 'verify-erasure': {
        const erased = request.steps.filter((s) => s.name.startsWith('erase:'));
        const late = await erasure.verify(request, erased.map((s) => s.name.slice('erase:'.length)));
        const changes: Record<string, Partial<StepState>> = { [name]: done() };
        for (const s of erased) {
          const n = late[s.name.slice('erase:'.length)];
          if (n) changes[s.name] = { stragglers: (s.stragglers ?? 0) + n };
        }
        request = await this.save(request, changes);
        break;
      }
      case 'receipt': {
        const signed = await erasure.issueReceipt(request);
        request = await this.save(request, { [name]: done() }, { receiptSeq: signed.receipt.seq });
        break;
      }
      default:
        throw new PermanentStepError(`unknown step ${name}`);
    }
    const saved = request.steps.find((s) => s.name === name)!;
    await this.audit('privacy.step.done', request, { step: name, records: saved.records, deleted: saved.deleted, stragglers: saved.stragglers });
    return request;
  }

  /** Writes step changes under the revision read; another writer that left the steps alone is merged. */
  private async save(request: PrivacyRequest, changes: Record<string, Partial<StepState>>, extra: RequestChanges = {}): Promise<PrivacyRequest> {
    const steps = (extra.steps ?? request.steps).map((s) => (changes[s.name] ? { ...s, ...changes[s.name] } : s));
    let base = request;
    for (let attempt = 0; attempt < 5; attempt++) {
      const saved = await this.deps.store.update(base.id, base.rev, { ...extra, steps, updatedAt: this.deps.clock.now() });
      if (saved) return saved;
      const fresh = await this.deps.store.get(base.id);
      if (!fresh || fresh.status === 'denied') throw new RequestStopped();
      if (fresh.status !== base.status || canonicalJson(fresh.steps) !== canonicalJson(base.steps)) {
        throw new Error('the request was changed by another worker');
      }
      base = fresh;
    }
    throw new Error('the request kept changing');
  }

  private async fail(id: string, code: 'permanent_error' | 'retries_exhausted', message: string): Promise<void> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const latest = await this.deps.store.get(id);
      if (!latest || latest.status === 'completed' || latest.status === 'denied') return;
      const now = this.deps.clock.now();
      const saved = await this.deps.store.update(id, latest.rev, { status: 'failed', failure: { code, message, at: now }, updatedAt: now });
      if (saved) {
        await this.deps.store.releaseClaim({ appId: saved.appId, pid: saved.pid, type: saved.type }, id);
        await this.audit('privacy.request.failed', saved, { code, message }, 'failure');
        return;
      }
    }
  }

  private async audit(action: string, request: PrivacyRequest, details: Record<string, unknown>, outcome: 'success' | 'failure' = 'success'): Promise<void> {
    await this.deps.audit.record({ actor: SYSTEM_ACTOR, action, target: `privacy-request:${request.id}`, appId: request.appId, outcome, details: { type: request.type, ...details } });
  }
}
