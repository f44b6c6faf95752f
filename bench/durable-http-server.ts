/**
 * B1's server (bench/ingest-baselines.ts, `startDurableHttpServer`): the smallest durable ingest over HTTP.
 * node:http, JSON.parse, one HMAC per device (cached), the documents ingest stores, and the api's own write
 * path (CoalescingEventWriter and MongoEventStore on a write lane, as `createIngestModule` builds them);
 * 202 once the write is durable. No validation, consent, suppression, rate limits, Redis, device state,
 * metrics, express or logging: what any durable HTTP ingest on this machine pays at the least.
 * Usage: node --import tsx bench/durable-http-server.ts <mongodb url> <port> <app id>; prints `ready` when
 * listening. The documents carry the given app id (B1_APP_ID in bench/ingest-baselines.ts).
 */
import { createHmac, randomBytes } from 'node:crypto';
import { createServer, type ServerResponse } from 'node:http';
import { connectMongo } from '../src/connections.js';
import { MongoEventStore } from '../src/ingest/event-store.js';
import { eventDocId, type StoredEvent } from '../src/ingest/stored-event.js';
import { apiWritePath } from './api-write-path.js';

type Incoming = Pick<StoredEvent, 'type' | 'version' | 'channel' | 'platform' | 'nativeVersion' | 'osVersion'> & {
  eventId: string;
  deviceId: string;
  occurredAt: string;
};

async function main(): Promise<void> {
  const [mongoUrl, port, appId] = process.argv.slice(2) as [string, string, string];
  const connection = await connectMongo(mongoUrl);
  const writer = await apiWritePath(connection, new MongoEventStore(connection));
  const key = randomBytes(32);
  const pids = new Map<string, string>();
  const pidOf = (deviceId: string): string => {
    let pid = pids.get(deviceId);
    if (pid === undefined) pids.set(deviceId, (pid = createHmac('sha256', key).update(`dev:${deviceId}`).digest('hex')));
    return pid;
  };
  const answer = (res: ServerResponse, status: number, body: string): void => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(body);
  };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const receivedAt = new Date();
      let docs: StoredEvent[];
      try {
        const { events } = JSON.parse(Buffer.concat(chunks).toString()) as { events: Incoming[] };
        docs = events.map((e) => {
          const pid = pidOf(e.deviceId);
          const { type, version, channel, platform, nativeVersion, osVersion } = e;
          return { _id: eventDocId(appId, pid, e.eventId), appId, pid, type, version, channel, platform, occurredAt: new Date(e.occurredAt), receivedAt, nativeVersion, osVersion };
        });
      } catch {
        return answer(res, 400, '{"error":"malformed"}');
      }
      writer.write(docs).then(
        (stored) => answer(res, 202, JSON.stringify({ accepted: stored.filter(Boolean).length, duplicates: stored.filter((s) => !s).length, rejected: [] })),
        () => answer(res, 503, '{"error":"unavailable"}'),
      );
    });
  });
  server.listen(Number(port), '127.0.0.1', () => process.stdout.write('ready\n'));
}

main().catch((err: unknown) => {
  process.stderr.write(`durable-http-server failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
