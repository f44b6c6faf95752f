import { Schema, type Connection, type Model } from 'mongoose';
import { markPidCollection } from './pid-registry.js';
import type { PrivacyRequest } from './privacy-types.js';

export interface PrivacyRequestDoc extends Omit<PrivacyRequest, 'id'> {
  _id: string;
}

const requestSchema = new Schema<PrivacyRequestDoc>(
  {
    _id: { type: String, required: true },
    appId: { type: String, required: true },
    pid: { type: String, required: true },
    type: { type: String, required: true },
    jurisdiction: { type: String, required: true },
    source: { type: String, required: true },
    createdBy: { type: String, required: true },
    status: { type: String, required: true },
    receivedAt: { type: Date, required: true },
    acknowledgementDueAt: Date,
    dueAt: { type: Date, required: true },
    originalDueAt: { type: Date, required: true },
    extension: Schema.Types.Mixed,
    denial: Schema.Types.Mixed,
    notes: String,
    purpose: String,
    statusTokenHashes: { type: [String], default: [] },
    steps: { type: Schema.Types.Mixed, default: [] },
    lastError: Schema.Types.Mixed,
    failure: Schema.Types.Mixed,
    export: Schema.Types.Mixed,
    receiptSeq: Number,
    notices: { type: Schema.Types.Mixed, default: {} },
    completedAt: Date,
    createdAt: { type: Date, required: true },
    updatedAt: { type: Date, required: true },
    rev: { type: Number, required: true },
  },
  { versionKey: false, collection: 'privacy_requests', minimize: false },
);
// Lists and the deadline check: open requests by due date.
requestSchema.index({ status: 1, dueAt: 1 });
// A device's own requests (erasure purges the exports of its earlier requests; export lists them).
requestSchema.index({ appId: 1, pid: 1 });
markPidCollection(requestSchema, {
  category: 'privacy requests',
  purpose: "answer the data subject's request and prove when and how it was answered",
  retention: 'kept while the app exists (accountability); the export archive itself expires after EXPORT_TTL_HOURS',
  source: 'the data subject (device self-service) or the privacy team acting on their request',
  keepOnErasure: { legalBasis: 'GDPR Art. 5(2) and 12: records needed to demonstrate the request was answered' },
  // Secrets, key material and the privacy team's own bookkeeping (notes, key ids, job errors) stay out.
  exportExclude: ['statusTokenHashes', 'export', 'steps', 'rev', 'notes', 'createdBy', 'lastError', 'failure'],
});

/** Marks the live duplicate window of (app, pid, type): whoever inserts it first owns the request. */
export interface ClaimDoc {
  _id: string;
  appId: string;
  pid: string;
  type: string;
  requestId: string;
  until: Date;
}

const claimSchema = new Schema<ClaimDoc>(
  {
    _id: { type: String, required: true },
    appId: { type: String, required: true },
    pid: { type: String, required: true },
    type: { type: String, required: true },
    requestId: { type: String, required: true },
    until: { type: Date, required: true },
  },
  { versionKey: false, collection: 'privacy_request_claims' },
);
markPidCollection(claimSchema, {
  category: 'duplicate-request marker',
  purpose: 'link a repeated request for the same device and type to the first one',
  retention: 'until PRIVACY_DUPLICATE_WINDOW_HOURS (default 24) after the request; then purged by the retention job',
  source: 'derived from the privacy request',
  keepOnErasure: { legalBasis: 'GDPR Art. 12(5) and 17(3)(b): links a repeated erasure to the one just carried out; expires with the duplicate window' },
});

export function privacyRequestModel(connection: Connection): Model<PrivacyRequestDoc> {
  return (connection.models.PrivacyRequest as Model<PrivacyRequestDoc> | undefined) ?? connection.model<PrivacyRequestDoc>('PrivacyRequest', requestSchema);
}

export function claimModel(connection: Connection): Model<ClaimDoc> {
  return (connection.models.PrivacyRequestClaim as Model<ClaimDoc> | undefined) ?? connection.model<ClaimDoc>('PrivacyRequestClaim', claimSchema);
}
