import type { Connection, Model, Schema } from 'mongoose';

/** What a collection holding pids is for: it goes into every export manifest and the README's record of processing. */
export interface PidCollectionMeta {
  /** Data category shown to the data subject, e.g. "update telemetry events". */
  category: string;
  purpose: string;
  /** Human-readable retention, e.g. "app retention policy (default 90 days)". */
  retention: string;
  /** Field holding the pid; `pid` unless stated. */
  pidField?: string;
  /**
   * Kept on erasure, with the legal basis stated (the suppression list must outlive the data it
   * suppresses, or the device's next event would be stored again). Still included in access and export.
   */
  keepOnErasure?: { legalBasis: string };
  /** Who receives the data besides this installation; default: nobody. */
  recipients?: readonly string[];
  /** Where the data comes from; default: the app on the device. */
  source?: string;
  /** Top-level fields left out of exports (secrets such as token hashes or key material). */
  exportExclude?: readonly string[];
}

export const DEFAULT_RECIPIENTS: readonly string[] = ['none: processed only by this otaguard installation and its operators'];
export const DEFAULT_SOURCE = 'the app on the device (otaguard telemetry calls)';

export type RegisteredMeta = Required<Omit<PidCollectionMeta, 'keepOnErasure'>> & Pick<PidCollectionMeta, 'keepOnErasure'>;

const registry = new WeakMap<Schema, RegisteredMeta>();

/**
 * Every schema with a pid calls this next to its definition. Access, export and erasure walk exactly the
 * marked models, and a test fails when a model has a `pid` path but no mark.
 */
export function markPidCollection(schema: Schema, meta: PidCollectionMeta): void {
  registry.set(schema, {
    pidField: 'pid',
    recipients: DEFAULT_RECIPIENTS,
    source: DEFAULT_SOURCE,
    exportExclude: [],
    ...meta,
  });
}

export interface PidCollection {
  model: Model<Record<string, unknown>>;
  collectionName: string;
  meta: RegisteredMeta;
}

export function pidCollections(connection: Connection): PidCollection[] {
  const out: PidCollection[] = [];
  for (const model of Object.values(connection.models)) {
    const meta = registry.get(model.schema);
    if (meta) out.push({ model: model as Model<Record<string, unknown>>, collectionName: model.collection.collectionName, meta });
  }
  return out.sort((a, b) => a.collectionName.localeCompare(b.collectionName));
}

/** A path that holds a pseudonym by its name: `pid`, `x.pid`, `subjectPid`, `pids`… */
const PID_PATH = /(^|\.)(pids?|[A-Za-z]+Pids?)$/;

/** Models that hold a pid path (`pid`, or any path named like one) but were never marked: must be empty. */
export function unregisteredPidModels(connection: Connection): string[] {
  return Object.values(connection.models)
    .filter((model) => !registry.has(model.schema) && Object.keys(model.schema.paths).some((path) => PID_PATH.test(path)))
    .map((model) => model.modelName);
}
