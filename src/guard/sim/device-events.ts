import type { EventType } from '../../metrics/device-counting.js';
import type { Rng } from './prng.js';
import { MINUTE_MS, VERSION_C, VERSION_U } from './world.js';

/** Receives one generated event; the run decides when (and whether) it is delivered. */
export type Emit = (type: EventType, pid: string, version: string, platform: string, occurredAt: number, fromVersion?: string) => void;

const SECOND = 1000;

/**
 * crash_rate: an active device launches its running version (`app_ready`) at a random moment of
 * its minute and, with probability `rate`, crashes later in that minute.
 */
export function emitActiveDevice(emit: Emit, rng: Rng, pid: string, version: string, platform: string, minuteStart: number, rate: number): void {
  const readyAt = minuteStart + Math.floor(rng.next() * MINUTE_MS);
  emit('app_ready', pid, version, platform, readyAt);
  if (rng.bernoulli(rate)) emit('crash', pid, version, platform, readyAt + Math.floor(rng.next() * (minuteStart + MINUTE_MS - readyAt)));
}

/**
 * launch_failure: a device offered U downloads and installs it, then either reaches `app_ready`
 * within seconds or fails with probability `rate`. Failure modes: 70% crash before app_ready
 * followed by the OTA plugin's `rolled_back`; 30% hang silently, visible only through the
 * 10-minute missing-app_ready rule.
 */
export function emitLaunch(emit: Emit, rng: Rng, pid: string, platform: string, minuteStart: number, rate: number): void {
  const start = minuteStart + Math.floor(rng.next() * MINUTE_MS);
  const completed = start + Math.floor(rng.between(2, 8) * SECOND);
  const installed = completed + Math.floor(rng.between(5, 12) * SECOND);
  emit('download_started', pid, VERSION_U, platform, start);
  emit('download_completed', pid, VERSION_U, platform, completed);
  emit('installed', pid, VERSION_U, platform, installed, VERSION_C);
  if (!rng.bernoulli(rate)) {
    emit('app_ready', pid, VERSION_U, platform, installed + Math.floor(rng.between(1, 30) * SECOND));
    return;
  }
  if (rng.bernoulli(0.7)) {
    const crashAt = installed + Math.floor(rng.between(1, 10) * SECOND);
    emit('crash', pid, VERSION_U, platform, crashAt);
    emit('rolled_back', pid, VERSION_C, platform, crashAt + Math.floor(rng.between(2, 5) * SECOND), VERSION_U);
  }
}

/**
 * install_failure: a device offered U starts the download; with probability `rate` the download
 * (half the cases) or the install (the other half) fails; otherwise it installs and launches.
 */
export function emitInstall(emit: Emit, rng: Rng, pid: string, platform: string, minuteStart: number, rate: number): void {
  const start = minuteStart + Math.floor(rng.next() * MINUTE_MS);
  emit('download_started', pid, VERSION_U, platform, start);
  const fails = rng.bernoulli(rate);
  if (fails && rng.bernoulli(0.5)) {
    emit('download_failed', pid, VERSION_U, platform, start + Math.floor(rng.between(1, 20) * SECOND));
    return;
  }
  const completed = start + Math.floor(rng.between(2, 8) * SECOND);
  emit('download_completed', pid, VERSION_U, platform, completed);
  if (fails) {
    emit('install_failed', pid, VERSION_U, platform, completed + Math.floor(rng.between(5, 12) * SECOND));
    return;
  }
  const installed = completed + Math.floor(rng.between(5, 12) * SECOND);
  emit('installed', pid, VERSION_U, platform, installed, VERSION_C);
  emit('app_ready', pid, VERSION_U, platform, installed + Math.floor(rng.between(1, 30) * SECOND));
}
