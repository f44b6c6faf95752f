import { chiSquare1Survival } from './confidence-bounds.js';
import type { GuardState } from './guard-types.js';

/**
 * Sample-ratio mismatch: chi-square (1 df) of the active devices seen on U and C during the current
 * step against the configured percentage. Counts restart when the percentage changes, because the
 * expected split changes with it. Skipped until each cell expects ≥ 5 devices (the χ² approximation
 * is meaningless below that).
 */
export function updateSampleRatio(
  previous: GuardState['sampleRatio'],
  percent: number,
  traffic: { devicesU: number; devicesC: number } | undefined,
): { state: GuardState['sampleRatio']; chiSquare: number | null; pValue: number | null } {
  const base = previous.percent === percent ? previous : { percent, devicesU: 0, devicesC: 0 };
  const state = traffic
    ? { percent, devicesU: base.devicesU + traffic.devicesU, devicesC: base.devicesC + traffic.devicesC }
    : base;
  const share = percent / 100;
  const total = state.devicesU + state.devicesC;
  const expectedU = total * share;
  const expectedC = total - expectedU;
  if (share <= 0 || share >= 1 || expectedU < 5 || expectedC < 5) {
    return { state, chiSquare: null, pValue: null };
  }
  const chiSquare =
    (state.devicesU - expectedU) ** 2 / expectedU + (state.devicesC - expectedC) ** 2 / expectedC;
  return { state, chiSquare, pValue: chiSquare1Survival(chiSquare) };
}
