/** Privacy request vocabulary shared by the service, the job steps and the store. */
export const REQUEST_TYPES = ['access', 'export', 'delete', 'objection'] as const;
export type RequestType = (typeof REQUEST_TYPES)[number];

export const JURISDICTIONS = ['gdpr', 'ccpa', 'other'] as const;
export type Jurisdiction = (typeof JURISDICTIONS)[number];

export const REQUEST_STATUSES = ['received', 'verified', 'processing', 'completed', 'denied', 'failed'] as const;
export type RequestStatus = (typeof REQUEST_STATUSES)[number];

/** Still owed an answer: a failed request too, until someone completes or denies it. */
export const OPEN_STATUSES: readonly RequestStatus[] = ['received', 'verified', 'processing', 'failed'];

export type NoticeKind = 'dueSoon7' | 'dueSoon2' | 'overdue';

/** One checkpointed step of a request's job. Persisted after every change, so a new worker resumes it. */
export interface StepState {
  /** `verify`, `suppress`, `purge-exports`, `export:<collection>`, `manifest`, `erase:<collection>`, `verify-erasure`, `receipt`. */
  name: string;
  status: 'pending' | 'running' | 'done';
  attempts: number;
  startedAt?: Date;
  doneAt?: Date;
  /** Export: records written. Erasure: records counted before deleting (after suppression). */
  records?: number;
  /** Erasure: what deleteMany reported (can miss a call whose answer was lost to a crash). */
  deleted?: number;
  /** Erasure: records found by verification (arrived while deleting) and deleted then. */
  stragglers?: number;
  /** Export: the encrypted files this step wrote. */
  parts?: ExportPart[];
}

/** One file of an export archive, stored deflated, then AES-256-GCM encrypted, in chunks. */
export interface ExportPart {
  file: string;
  /** Bytes of the file and of its deflate stream; CRC-32 of the file (the zip entry needs all three). */
  size: number;
  compressedSize: number;
  crc32: number;
  /** base64 */
  iv: string;
  /** base64 */
  tag: string;
  chunks: number;
}

export interface ExportInfo {
  generatedAt: Date;
  expiresAt: Date;
  parts: ExportPart[];
  purgedAt?: Date;
}

export interface PrivacyRequest {
  id: string;
  appId: string;
  /** The subject's pseudonym. The raw device id is never stored. */
  pid: string;
  type: RequestType;
  jurisdiction: Jurisdiction;
  source: 'admin' | 'device';
  /** API key id, or `ingest:<appId>` for device requests. */
  createdBy: string;
  status: RequestStatus;
  receivedAt: Date;
  /** CCPA: acknowledge within 10 business days. */
  acknowledgementDueAt?: Date;
  dueAt: Date;
  originalDueAt: Date;
  extension?: { reason: string; at: Date; by: string; previousDueAt: Date };
  denial?: { basis: string; at: Date; by: string };
  notes?: string;
  /** Objection: the processing purpose objected to. */
  purpose?: string;
  /** SHA-256 of each status token handed to the device (one per linked duplicate). */
  statusTokenHashes: string[];
  steps: StepState[];
  lastError?: { message: string; at: Date; attempt: number };
  failure?: { code: 'permanent_error' | 'retries_exhausted'; message: string; at: Date };
  export?: ExportInfo;
  receiptSeq?: number;
  notices: Partial<Record<NoticeKind, Date>>;
  completedAt?: Date;
  createdAt: Date;
  updatedAt: Date;
  /** Optimistic-concurrency revision: every write names the revision it read. */
  rev: number;
}

export const isOpen = (status: RequestStatus): boolean => OPEN_STATUSES.includes(status);
