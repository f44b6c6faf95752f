import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32, deflateRawSync } from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CsvLayout, csvField, csvRow } from '../../../src/privacy/csv.js';
import { centralDirectory, localHeader, zipLayout } from '../../../src/privacy/zip.js';
import { parseCsv, readZip } from '../../e2e/privacy-helpers.js';

describe('CSV (RFC 4180)', () => {
  it('quotes only fields that need it and doubles quotes', () => {
    expect(csvField('plain')).toBe('plain');
    expect(csvField('a,b')).toBe('"a,b"');
    expect(csvField('say "hi"')).toBe('"say ""hi"""');
    expect(csvField('two\nlines')).toBe('"two\nlines"');
    expect(csvRow(['a', '', 'c\r'])).toBe('a,,"c\r"\r\n');
  });

  it('round-trips any table through a strict parser', () => {
    fc.assert(
      fc.property(fc.array(fc.array(fc.string({ unit: 'grapheme' }), { minLength: 2, maxLength: 2 }), { maxLength: 20 }), (rows) => {
        expect(parseCsv(rows.map(csvRow).join(''))).toEqual(rows);
      }),
    );
  });

  it('lays out schema columns, flattens nested paths and keeps unknown fields in _other', () => {
    const layout = new CsvLayout(['_id', 'at', 'current.version', 'n']);
    expect(layout.header).toBe('_id,at,current.version,n,_other\r\n');
    const row = layout.row({ _id: 'x', at: new Date('2026-01-01T00:00:00Z'), current: { version: '1.0' }, n: 3, extra: [1, 'a'] });
    expect(parseCsv(row)).toEqual([['x', '2026-01-01T00:00:00.000Z', '1.0', '3', '{"extra":[1,"a"]}']]);
  });
});

describe('zip writer', () => {
  const files = [
    { name: 'manifest.json', text: '{"a":1}\n' },
    { name: 'events.csv', text: 'x,y\r\n1,2\r\n'.repeat(1000) },
    { name: 'empty.json', text: '' },
  ];
  const at = new Date('2026-03-04T05:06:08Z');
  const entries = files.map((f) => {
    const data = Buffer.from(f.text);
    return { name: f.name, crc32: crc32(data), size: data.length, compressedSize: deflateRawSync(data).length, data: deflateRawSync(data) };
  });
  const { offsets, length } = zipLayout(entries);
  const zip = Buffer.concat([...entries.flatMap((e) => [localHeader(e, at), e.data]), centralDirectory(entries, offsets, at)]);

  it('predicts its own length and reads back byte for byte', () => {
    expect(zip.length).toBe(length);
    const read = readZip(zip);
    expect([...read.keys()]).toEqual(files.map((f) => f.name));
    for (const f of files) expect(read.get(f.name)!.toString()).toBe(f.text);
  });

  it('is accepted by Info-ZIP unzip when it is installed', () => {
    let hasUnzip = true;
    try {
      execFileSync('unzip', ['-v'], { stdio: 'ignore' });
    } catch {
      hasUnzip = false;
    }
    if (!hasUnzip) return;
    const dir = mkdtempSync(join(tmpdir(), 'otaguard-zip-'));
    writeFileSync(join(dir, 'a.zip'), zip);
    expect(execFileSync('unzip', ['-t', join(dir, 'a.zip')]).toString()).toContain('No errors detected');
  });
});
