import { createHash, randomUUID } from 'node:crypto';
import { eventDocId, type EventType, type StoredEvent } from '../../../src/ingest/stored-event.js';

/** A stand-in pid for a named test device (the real one is an HMAC of the device id). */
export function pidOf(device: string): string {
  return createHash('sha256').update(`device:${device}`).digest('hex');
}

export interface EventSpec {
  device: string;
  type: EventType;
  at: string | number | Date;
  version?: string;
  channel?: string;
  platform?: string;
  fromVersion?: string;
  appId?: string;
  /** Defaults to `at`. */
  receivedAt?: string | number | Date;
  eventId?: string;
}

/** A StoredEvent as ingest writes it. */
export function storedEvent(spec: EventSpec): StoredEvent {
  const appId = spec.appId ?? 'com.test.metrics';
  const eventId = spec.eventId ?? randomUUID();
  const pid = pidOf(spec.device);
  return {
    _id: eventDocId(appId, pid, eventId),
    appId,
    pid,
    type: spec.type,
    version: spec.version ?? '1.0.0',
    channel: spec.channel ?? 'production',
    platform: spec.platform ?? 'ios',
    occurredAt: new Date(spec.at),
    receivedAt: new Date(spec.receivedAt ?? spec.at),
    ...(spec.fromVersion !== undefined ? { fromVersion: spec.fromVersion } : {}),
  };
}

export const minutes = (n: number): number => n * 60_000;

/** A small deterministic PRNG (mulberry32), so a failing random stream can be replayed from its seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Plausible update telemetry: devices on 1.0.0 that launch, some of which download, install and launch
 * 1.1.0 — succeeding, crash-looping, rolling back or going silent — across several channels and platforms.
 */
export function randomStream(seed: number, options: { appId: string; devices: number; start: number; spanMinutes: number }): StoredEvent[] {
  const rnd = prng(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(rnd() * items.length)]!;
  const out: StoredEvent[] = [];
  for (let d = 0; d < options.devices; d++) {
    const device = `dev-${seed}-${d}`;
    const base = { appId: options.appId, device, channel: pick(['production', 'production', 'beta']), platform: pick(['ios', 'android']) };
    const t = (): number => options.start + Math.floor(rnd() * options.spanMinutes * 60_000);
    const push = (type: EventType, at: number, extra: Partial<EventSpec> = {}): void => {
      out.push(storedEvent({ ...base, type, at, version: '1.0.0', ...extra }));
    };
    for (let i = Math.floor(rnd() * 3); i > 0; i--) push('app_ready', t());
    if (rnd() < 0.2) push('crash', t());
    if (rnd() < 0.6) {
      const s = t();
      const v = { version: '1.1.0' };
      push('download_started', s, v);
      if (rnd() < 0.15) {
        push('download_failed', s + 5_000, v);
        continue;
      }
      push('download_completed', s + 5_000, v);
      if (rnd() < 0.1) {
        push('install_failed', s + 8_000, v);
        continue;
      }
      const installed = s + 10_000;
      push('installed', installed, v);
      const fate = rnd();
      if (fate < 0.5) {
        push('app_ready', installed + Math.floor(rnd() * 9 * 60_000), v);
        if (rnd() < 0.3) push('crash', installed + 10 * 60_000 + Math.floor(rnd() * 5 * 60_000), v);
      } else if (fate < 0.7) {
        for (let i = 1 + Math.floor(rnd() * 5); i > 0; i--) push('crash', installed + Math.floor(rnd() * 3 * 60_000), v);
      } else if (fate < 0.85) {
        push('rolled_back', installed + Math.floor(rnd() * 2 * 60_000), { version: '1.0.0', fromVersion: '1.1.0' });
      } else if (fate < 0.93) {
        push('app_ready', installed + 12 * 60_000, v); // too late
      }
    }
  }
  return out.sort((a, b) => a.occurredAt.getTime() - b.occurredAt.getTime());
}
