/**
 * Audit details are stored and hashed as plain JSON. Normalising before hashing makes what is hashed
 * exactly what the database gives back (no Dates, undefineds, NaNs, `$`-keys or arrays of arrays that
 * BSON or FerretDB would change or refuse), and drops values under names that usually carry device ids
 * or secrets.
 */
const SENSITIVE_KEY = /^(device_?id|deviceids|secret|password|token|authorization|api_?key|ingest_?key|key|ip|ip_?address|remote_?address)$/i;
const MAX_DEPTH = 12;
const MAX_STRING = 2000;
const MAX_ITEMS = 200;

export const REDACTED = '[redacted]';

function safeKey(key: string): string {
  // MongoDB reserves a leading `$` and dots in field names; FerretDB refuses them outright.
  return key.replace(/^\$/, '\uFF04').replace(/\./g, '\uFF0E');
}

function normalise(value: unknown, depth: number): unknown {
  if (value === null || typeof value === 'boolean') return value;
  if (typeof value === 'string') return value.length > MAX_STRING ? `${value.slice(0, MAX_STRING)}…` : value;
  if (typeof value === 'number') return Number.isFinite(value) ? value : null;
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value.toISOString();
  if (depth >= MAX_DEPTH) return '[truncated]';
  if (Array.isArray(value)) {
    // FerretDB refuses arrays directly inside arrays: an inner array is kept as its JSON text.
    return value.slice(0, MAX_ITEMS).map((item) => {
      const inner = normalise(item, depth + 1);
      return Array.isArray(inner) ? JSON.stringify(inner) : inner;
    });
  }
  if (typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [key, child] of Object.entries(value as Record<string, unknown>).slice(0, MAX_ITEMS)) {
      if (child === undefined || typeof child === 'function' || typeof child === 'symbol') continue;
      out[safeKey(key)] = SENSITIVE_KEY.test(key) ? REDACTED : normalise(child, depth + 1);
    }
    return out;
  }
  return null;
}

export function normaliseDetails(details: Record<string, unknown>): Record<string, unknown> {
  return normalise(details, 0) as Record<string, unknown>;
}
