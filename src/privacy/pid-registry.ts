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
}

type RegisteredMeta = Required<Omit<PidCollectionMeta, 'keepOnErasure'>> & Pick<PidCollectionMeta, 'keepOnErasure'>;

const registry = new WeakMap<Schema, RegisteredMeta>();

/**
 * Every schema with a pid calls this next to its definition. Access, export and erasure walk exactly the
 * marked models, and a test fails when a model has a `pid` path but no mark.
 */
export function markPidCollection(schema: Schema, meta: PidCollectionMeta): void {
  registry.set(schema, { pidField: 'pid', ...meta });
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

/** Models that hold a `pid` path but were never marked: must be empty. */
export function unregisteredPidModels(connection: Connection): string[] {
  return Object.values(connection.models)
    .filter((model) => model.schema.path('pid') !== undefined && !registry.has(model.schema))
    .map((model) => model.modelName);
}
