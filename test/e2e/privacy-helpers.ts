import { crc32, inflateRawSync } from 'node:zlib';
import type { Response } from 'supertest';
import { waitFor } from '../helpers/webhook-receiver.js';
import type { TestContext } from '../helpers/test-context.js';

/** Reads a zip (deflate entries, no ZIP64) from its central directory and checks every CRC-32. */
export function readZip(zip: Buffer): Map<string, Buffer> {
  const end = zip.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  if (end < 0) throw new Error('no end of central directory');
  const count = zip.readUInt16LE(end + 10);
  let at = zip.readUInt32LE(end + 16);
  const files = new Map<string, Buffer>();
  for (let i = 0; i < count; i++) {
    if (zip.readUInt32LE(at) !== 0x02014b50) throw new Error('bad central directory record');
    const method = zip.readUInt16LE(at + 10);
    const crc = zip.readUInt32LE(at + 16);
    const compressed = zip.readUInt32LE(at + 20);
    const size = zip.readUInt32LE(at + 24);
    const nameLength = zip.readUInt16LE(at + 28);
    const extraLength = zip.readUInt16LE(at + 30);
    const commentLength = zip.readUInt16LE(at + 32);
    const local = zip.readUInt32LE(at + 42);
    const name = zip.subarray(at + 46, at + 46 + nameLength).toString('utf8');
    if (zip.readUInt32LE(local) !== 0x04034b50) throw new Error(`bad local header for ${name}`);
    const dataStart = local + 30 + zip.readUInt16LE(local + 26) + zip.readUInt16LE(local + 28);
    const raw = zip.subarray(dataStart, dataStart + compressed);
    const data = method === 8 ? inflateRawSync(raw) : Buffer.from(raw);
    if (data.length !== size || crc32(data) !== crc) throw new Error(`${name}: size or CRC mismatch`);
    files.set(name, data);
    at += 46 + nameLength + extraLength + commentLength;
  }
  return files;
}

/** A strict RFC 4180 parser (CRLF records) for checking what the export writes. */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let i = 0;
  while (i < text.length) {
    if (text[i] === '"') {
      i++;
      for (;;) {
        if (i >= text.length) throw new Error('unterminated quote');
        if (text[i] === '"' && text[i + 1] === '"') {
          field += '"';
          i += 2;
        } else if (text[i] === '"') {
          i++;
          break;
        } else field += text[i++];
      }
    }
    if (text.startsWith('\r\n', i)) {
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
      i += 2;
    } else if (text[i] === ',') {
      row.push(field);
      field = '';
      i++;
    } else if (i < text.length) {
      if (text[i] === '"') throw new Error('quote inside an unquoted field');
      field += text[i++];
    }
  }
  if (field !== '' || row.length > 0) throw new Error('last record not terminated by CRLF');
  return rows;
}

/** supertest: collect a binary body as a Buffer. */
export function binary(res: Response, done: (err: Error | null, body: Buffer) => void): void {
  const chunks: Buffer[] = [];
  res.on('data', (chunk: Buffer) => chunks.push(chunk));
  res.on('end', () => done(null, Buffer.concat(chunks)));
}

export const SETTLED = ['completed', 'denied', 'failed'];

/** Polls the admin view of a request until its job has settled. */
export async function settled(ctx: TestContext, id: string, timeoutMs = 60_000): Promise<Record<string, unknown>> {
  return waitFor(
    async () => {
      const res = await ctx.http.get(`/v1/privacy/requests/${id}`).set(ctx.admin);
      return SETTLED.includes(String(res.body.status)) ? (res.body as Record<string, unknown>) : undefined;
    },
    timeoutMs,
    `privacy request ${id} to settle`,
  );
}

/** Consents the device and posts `count` events for it through the real ingest endpoint. */
export async function seedDevice(ctx: TestContext, ingest: { Authorization: string }, deviceId: string, count: number): Promise<void> {
  const consent = await ctx.http
    .post('/v1/consent')
    .set(ingest)
    .send({ deviceId, granted: true, purposes: ['telemetry'], policyVersion: '2024-05', source: 'settings_screen' });
  if (consent.status !== 201) throw new Error(`consent failed: ${consent.status} ${JSON.stringify(consent.body)}`);
  for (let sent = 0; sent < count; sent += 200) {
    const events = Array.from({ length: Math.min(200, count - sent) }, (_, i) => ({
      eventId: crypto.randomUUID(),
      deviceId,
      type: (sent + i) % 2 === 0 ? 'download_started' : 'installed',
      version: '1.2.0',
      channel: 'production',
      platform: 'android',
      occurredAt: new Date(Date.now() - 60_000 - (sent + i) * 10).toISOString(),
      errorCode: 'E_IO,"disk" full',
    }));
    const res = await ctx.http.post('/v1/events').set(ingest).send({ events });
    if (res.status !== 202 || res.body.accepted !== events.length) throw new Error(`ingest failed: ${res.status} ${JSON.stringify(res.body).slice(0, 300)}`);
  }
}

/**
 * Runs `work` while the container's suppression store, right after the first read that asks about `pid`
 * and before answering it, runs `between` to completion: it forces "checked, then (say) erased, then
 * written" with the real stores answering. Returns what `between` returned; undefined if no read came.
 */
export async function afterFirstSuppressionRead<T>(ctx: TestContext, pid: string, between: () => Promise<T>, work: () => Promise<void>): Promise<T | undefined> {
  const store = ctx.container.suppressions;
  const read = store.suppressed.bind(store);
  let result: { value: T } | undefined;
  store.suppressed = async (appId, pids) => {
    const answer = await read(appId, pids);
    if (!result && pids.includes(pid)) result = { value: await between() };
    return answer;
  };
  try {
    await work();
  } finally {
    store.suppressed = read;
  }
  return result?.value;
}
