/**
 * JSON with object keys sorted at every level (by UTF-16 code units, as RFC 8785 does), so equal values
 * always serialise to equal bytes: audit hashes, receipt chains and the guard's configuration hash must
 * not depend on insertion order. The string is built by hand because a JavaScript object would put
 * integer-like keys ("2", "10") first whatever order they were added in, and an outside verifier would
 * not reproduce that. Dates become ISO strings; undefined members are left out, as JSON.stringify does.
 */
export function canonicalJson(value: unknown): string {
  if (value instanceof Date) return JSON.stringify(value.toISOString());
  if (typeof value === 'number' && !Number.isFinite(value)) {
    throw new TypeError('canonicalJson: non-finite numbers have no JSON form');
  }
  if (Array.isArray(value)) return `[${value.map((item) => (item === undefined ? 'null' : canonicalJson(item))).join(',')}]`;
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  const record = value as Record<string, unknown>;
  const keys = Object.keys(record)
    .filter((key) => record[key] !== undefined)
    .sort();
  return `{${keys.map((key) => `${JSON.stringify(key)}:${canonicalJson(record[key])}`).join(',')}}`;
}
