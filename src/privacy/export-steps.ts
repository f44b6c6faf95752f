import type { Connection } from 'mongoose';
import { rawCollection } from '../connections.js';
import type { Clock } from '../clock.js';
import type { ExportArchive } from './export-archive.js';
import type { ExportChunkStore } from './export-chunk-store.js';
import { ExportPartWriter } from './export-part-writer.js';
import { CsvLayout } from './csv.js';
import { pidCollections, type PidCollection } from './pid-registry.js';
import type { ExportPart, PrivacyRequest } from './privacy-types.js';
import { ZIP32_LIMIT } from './zip.js';

export class PermanentStepError extends Error {}

/** The registered collection a step names, resolved at run time so the registry stays the one source. */
export function collectionNamed(connection: Connection, name: string): PidCollection {
  const found = pidCollections(connection).find((c) => c.collectionName === name);
  if (!found) throw new PermanentStepError(`collection ${name} is no longer registered`);
  return found;
}

export function subjectFilter(collection: PidCollection, request: PrivacyRequest): Record<string, string> {
  return { appId: request.appId, [collection.meta.pidField]: request.pid };
}

function csvColumns(collection: PidCollection): string[] {
  const excluded = new Set(collection.meta.exportExclude);
  return Object.keys(collection.model.schema.paths).filter((path) => !excluded.has(path.split('.')[0]!));
}

/** Access and export: files per registered collection, then the manifest that describes them. */
export class ExportSteps {
  constructor(
    private readonly deps: { connection: Connection; chunks: ExportChunkStore; archive: ExportArchive; clock: Clock; ttlMs: number },
  ) {}

  /**
   * Streams the subject's records of one collection, once, into `<collection>.json` (a JSON array) and
   * `<collection>.csv`; a collection without any writes no files (the manifest says 0 records). A resumed
   * step rewrites both files from the start: a GCM stream cannot be resumed.
   */
  async exportCollection(request: PrivacyRequest, name: string, resumed: boolean): Promise<{ records: number; parts: ExportPart[] }> {
    const collection = collectionNamed(this.deps.connection, name);
    const key = this.deps.archive.keyFor(request.id);
    const layout = new CsvLayout(csvColumns(collection));
    const projection = Object.fromEntries(collection.meta.exportExclude.map((field) => [field, 0]));
    let files: { json: ExportPartWriter; csv: ExportPartWriter } | undefined;
    let records = 0;
    const cursor = rawCollection(collection.model).find(subjectFilter(collection, request), { projection, batchSize: 1000 });
    for await (const doc of cursor) {
      if (!files) {
        files = {
          json: new ExportPartWriter(this.deps.chunks, key, request.id, `${name}.json`),
          csv: new ExportPartWriter(this.deps.chunks, key, request.id, `${name}.csv`),
        };
        await files.csv.write(layout.header);
      }
      await files.json.write(`${records === 0 ? '[\n' : ',\n'}${JSON.stringify(doc)}`);
      await files.csv.write(layout.row(doc as Record<string, unknown>));
      records++;
    }
    if (!files) {
      if (resumed) for (const ext of ['json', 'csv']) await this.deps.chunks.deleteFrom(request.id, `${name}.${ext}`, 0);
      return { records: 0, parts: [] };
    }
    await files.json.write('\n]\n');
    const parts = [await files.json.end(resumed), await files.csv.end(resumed)];
    if (parts.some((part) => part.size >= ZIP32_LIMIT || part.compressedSize >= ZIP32_LIMIT)) {
      throw new PermanentStepError(`the export of ${name} exceeds 4 GiB`);
    }
    return { records, parts };
  }

  /** manifest.json: what each file holds, why it is processed, for how long, for whom, from where. */
  async writeManifest(request: PrivacyRequest, resumed: boolean): Promise<{ part: ExportPart; expiresAt: Date; generatedAt: Date }> {
    const generatedAt = this.deps.clock.now();
    // `parts` may come back missing for a collection without records (FerretDB drops some empty arrays).
    const exported = request.steps.filter((step) => step.name.startsWith('export:'));
    const registered = new Map(pidCollections(this.deps.connection).map((c) => [c.collectionName, c.meta]));
    const manifest = {
      format: 'otaguard-export/1',
      requestId: request.id,
      requestType: request.type,
      appId: request.appId,
      jurisdiction: request.jurisdiction,
      receivedAt: request.receivedAt.toISOString(),
      generatedAt: generatedAt.toISOString(),
      subject: {
        pseudonym: request.pid,
        note: 'otaguard never stores your device id: every record is linked to you by this keyed pseudonym (HMAC-SHA256) of it.',
      },
      collections: exported.map((step) => {
        const name = step.name.slice('export:'.length);
        const meta = registered.get(name);
        return {
          collection: name,
          category: meta?.category,
          purpose: meta?.purpose,
          retention: meta?.retention,
          recipients: meta?.recipients,
          source: meta?.source,
          ...(meta?.keepOnErasure ? { keptOnErasure: meta.keepOnErasure.legalBasis } : {}),
          records: step.records ?? 0,
          files: (step.parts ?? []).map((part) => part.file),
        };
      }),
      formats: {
        json: 'UTF-8 JSON array of the stored documents; dates are ISO-8601 UTC.',
        csv: 'RFC 4180, UTF-8, CRLF; one column per schema field, nested values as JSON, fields outside the schema in `_other`.',
      },
      notIncluded: 'Aggregate counters (distinct-device counts per release and time bucket) hold no identifier and are not personal data.',
    };
    const writer = new ExportPartWriter(this.deps.chunks, this.deps.archive.keyFor(request.id), request.id, 'manifest.json');
    await writer.write(`${JSON.stringify(manifest, null, 2)}\n`);
    const part = await writer.end(resumed);
    return { part, generatedAt, expiresAt: new Date(generatedAt.getTime() + this.deps.ttlMs) };
  }
}
