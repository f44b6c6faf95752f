import type { components } from '../generated/api.js';
import { isOverdue } from './privacy-service.js';
import type { PrivacyRequest, StepState } from './privacy-types.js';
import type { RetentionRun } from './retention-service.js';

type Schemas = components['schemas'];


function stepView(step: StepState): Schemas['PrivacyRequestStep'] {
  return {
    name: step.name,
    status: step.status,
    attempts: step.attempts,
    ...(step.startedAt ? { startedAt: step.startedAt.toISOString() } : {}),
    ...(step.doneAt ? { doneAt: step.doneAt.toISOString() } : {}),
    ...(step.records !== undefined ? { records: step.records } : {}),
    ...(step.deleted !== undefined ? { deleted: step.deleted } : {}),
    ...(step.stragglers !== undefined ? { stragglers: step.stragglers } : {}),
  };
}

/** The API view of a request. `base` is where the export and receipt are downloaded from for this caller. */
export function requestView(request: PrivacyRequest, now: Date, base: string, forDevice: boolean): Schemas['PrivacyRequest'] {
  const info = request.export;
  const exportAvailable = !!info && request.status === 'completed' && !info.purgedAt && info.expiresAt > now;
  return {
    id: request.id,
    appId: request.appId,
    type: request.type,
    jurisdiction: request.jurisdiction,
    source: request.source,
    status: request.status,
    overdue: isOverdue(request, now),
    receivedAt: request.receivedAt.toISOString(),
    ...(request.acknowledgementDueAt ? { acknowledgementDueAt: request.acknowledgementDueAt.toISOString() } : {}),
    dueAt: request.dueAt.toISOString(),
    originalDueAt: request.originalDueAt.toISOString(),
    ...(request.extension ? { extension: { reason: request.extension.reason, at: request.extension.at.toISOString(), previousDueAt: request.extension.previousDueAt.toISOString() } } : {}),
    ...(request.denial ? { denial: { basis: request.denial.basis, at: request.denial.at.toISOString() } } : {}),
    ...(request.notes !== undefined && !forDevice ? { notes: request.notes } : {}),
    ...(request.purpose !== undefined ? { purpose: request.purpose } : {}),
    steps: request.steps.map(stepView),
    ...(request.lastError ? { lastError: { message: request.lastError.message, at: request.lastError.at.toISOString(), attempt: request.lastError.attempt } } : {}),
    ...(request.failure ? { failure: { code: request.failure.code, message: request.failure.message, at: request.failure.at.toISOString() } } : {}),
    ...(info
      ? {
          export: {
            available: exportAvailable,
            generatedAt: info.generatedAt.toISOString(),
            expiresAt: info.expiresAt.toISOString(),
            ...(info.purgedAt ? { purgedAt: info.purgedAt.toISOString() } : {}),
            files: info.parts.map((part) => ({ name: part.file, bytes: part.size })),
            ...(exportAvailable ? { download: `${base}/${request.id}/export` } : {}),
          },
        }
      : {}),
    ...(request.receiptSeq !== undefined && request.status === 'completed' ? { receipt: { seq: request.receiptSeq, download: `${base}/${request.id}/receipt` } } : {}),
    ...(request.completedAt ? { completedAt: request.completedAt.toISOString() } : {}),
    createdAt: request.createdAt.toISOString(),
    updatedAt: request.updatedAt.toISOString(),
  };
}

export function retentionRunView(run: RetentionRun): Schemas['RetentionRun'] {
  return {
    id: run.id,
    startedAt: run.startedAt.toISOString(),
    finishedAt: run.finishedAt.toISOString(),
    purged: run.purged.map((p) => ({ ...p, cutoff: p.cutoff.toISOString() })),
    exportsPurged: run.exportsPurged,
    exportChunksDeleted: run.exportChunksDeleted,
    claimsPurged: run.claimsPurged,
  };
}

