import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

export interface OpenApiOperation {
  operationId: string;
  method: string;
  path: string;
  definition: Record<string, unknown>;
}

export type OpenApiDocument = Record<string, unknown> & {
  paths: Record<string, Record<string, Record<string, unknown>>>;
  components?: { schemas?: Record<string, unknown> };
};

const HTTP_METHODS = new Set(['get', 'put', 'post', 'delete', 'patch', 'head', 'options']);

/** Found relative to this file so it works from src/ (tsx) and from dist/src/ (compiled). */
function documentPath(): string {
  const candidates = ['../../openapi/otaguard.yaml', '../../../openapi/otaguard.yaml'];
  for (const candidate of candidates) {
    const path = fileURLToPath(new URL(candidate, import.meta.url));
    try {
      readFileSync(path);
      return path;
    } catch {
      continue;
    }
  }
  throw new Error('openapi/otaguard.yaml not found');
}

let cached: OpenApiDocument | undefined;

export function loadOpenApiDocument(): OpenApiDocument {
  cached ??= parse(readFileSync(documentPath(), 'utf8')) as OpenApiDocument;
  return cached;
}

export function listOperations(doc: OpenApiDocument = loadOpenApiDocument()): OpenApiOperation[] {
  const operations: OpenApiOperation[] = [];
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const [method, definition] of Object.entries(item)) {
      if (!HTTP_METHODS.has(method)) continue;
      operations.push({ operationId: String(definition.operationId), method, path, definition });
    }
  }
  return operations;
}
