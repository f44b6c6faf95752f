/** RFC 4180: a field with a comma, quote, CR or LF is quoted, and quotes inside it are doubled. */
export function csvField(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

/** One CSV record terminated by CRLF. */
export function csvRow(values: readonly string[]): string {
  return `${values.map(csvField).join(',')}\r\n`;
}

/** How a stored value reads in a CSV cell: dates ISO-8601, objects and arrays as JSON, missing as empty. */
export function cellText(value: unknown): string {
  if (value === undefined || value === null) return '';
  if (value instanceof Date) return value.toISOString();
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  return JSON.stringify(value);
}

function valueAt(doc: Record<string, unknown>, path: string): unknown {
  let current: unknown = doc;
  for (const key of path.split('.')) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<string, unknown>)[key];
  }
  return current;
}

/**
 * Columns are the collection's schema paths, so every file of a collection has the same header; fields
 * a document has outside its schema go, as JSON, into a last `_other` column so nothing is left out.
 */
export class CsvLayout {
  readonly header: string;
  private readonly topLevel: Set<string>;

  constructor(private readonly columns: readonly string[]) {
    this.header = csvRow([...columns, '_other']);
    this.topLevel = new Set(columns.map((c) => c.split('.')[0]!));
  }

  row(doc: Record<string, unknown>): string {
    const cells = this.columns.map((column) => cellText(valueAt(doc, column)));
    const other: Record<string, unknown> = {};
    let hasOther = false;
    for (const [key, value] of Object.entries(doc)) {
      if (!this.topLevel.has(key)) {
        other[key] = value;
        hasOther = true;
      }
    }
    cells.push(hasOther ? JSON.stringify(other) : '');
    return csvRow(cells);
  }
}
