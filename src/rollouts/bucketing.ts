import { createHash } from 'node:crypto';

/** Percentages are kept in basis points: 1 % = 100 bp, 100 % = 10 000 bp. */
export const FULL_BP = 10_000;

export function percentToBp(percent: number): number {
  return Math.min(FULL_BP, Math.max(0, Math.round(percent * 100)));
}

export function bpToPercent(bp: number): number {
  return bp / 100;
}

/**
 * A device's fixed position in [0, 10000) for one rollout: the first 6 bytes of
 * sha256(salt + ":" + pid) mod 10000. Salting with the rollout id gives each rollout its own random
 * sample of devices, while within a rollout a device keeps its position.
 */
export function bucketOf(salt: string, pid: string): number {
  const digest = createHash('sha256').update(`${salt}:${pid}`).digest();
  return digest.readUIntBE(0, 6) % FULL_BP;
}

/**
 * In the rollout when its position is below the percentage: raising the percentage only adds
 * devices, so a device once offered the release keeps being offered it (sticky, monotone).
 */
export function inRollout(salt: string, pid: string, percentBp: number): boolean {
  return bucketOf(salt, pid) < percentBp;
}
