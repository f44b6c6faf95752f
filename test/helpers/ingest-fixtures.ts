import { randomUUID } from 'node:crypto';
import type { TestContext } from './test-context.js';

export interface EventInput {
  eventId: string;
  deviceId: string;
  type: string;
  version: string;
  channel: string;
  platform: string;
  occurredAt: string;
  [field: string]: unknown;
}

/** A valid event a minute old; override any field. */
export function event(deviceId: string, overrides: Partial<EventInput> = {}): EventInput {
  return {
    eventId: randomUUID(),
    deviceId,
    type: 'app_ready',
    version: '1.2.0',
    channel: 'production',
    platform: 'android',
    occurredAt: new Date(Date.now() - 60_000).toISOString(),
    ...overrides,
  };
}

export type IngestHeader = { Authorization: string };

export async function consent(
  ctx: TestContext,
  ingest: IngestHeader,
  deviceId: string,
  granted: boolean,
  purposes: string[] = ['telemetry'],
): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await ctx.http
    .post('/v1/consent')
    .set(ingest)
    .send({ deviceId, granted, purposes, policyVersion: '2024-05', source: 'settings_screen' });
  return { status: res.status, body: res.body as Record<string, unknown> };
}

export async function postEvents(
  ctx: TestContext,
  ingest: IngestHeader,
  events: unknown[],
): Promise<{ status: number; body: { accepted: number; duplicates: number; rejected: Array<Record<string, unknown>> } & Record<string, unknown>; headers: Record<string, string> }> {
  const res = await ctx.http.post('/v1/events').set(ingest).send({ events });
  return { status: res.status, body: res.body, headers: res.headers as Record<string, string> };
}

/** Raw stored documents of a collection in the test's database. */
export async function stored(ctx: TestContext, collection: string, filter: Record<string, unknown> = {}): Promise<Array<Record<string, unknown>>> {
  return ctx.container.mongo.db!.collection(collection).find(filter).toArray() as Promise<Array<Record<string, unknown>>>;
}
