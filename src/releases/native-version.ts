/**
 * Compares dotted versions numerically segment by segment ("1.10.0" > "1.9.3"); a missing segment is 0
 * and a non-numeric segment compares as text after numbers. Pre-release suffixes ("-beta") sort first.
 */
export function compareVersions(a: string, b: string): number {
  const [coreA = '', preA] = splitPre(a);
  const [coreB = '', preB] = splitPre(b);
  const partsA = coreA.split('.');
  const partsB = coreB.split('.');
  for (let i = 0; i < Math.max(partsA.length, partsB.length); i++) {
    const diff = compareSegment(partsA[i] ?? '0', partsB[i] ?? '0');
    if (diff !== 0) return diff;
  }
  if (preA === preB) return 0;
  if (preA === undefined) return 1;
  if (preB === undefined) return -1;
  return preA < preB ? -1 : 1;
}

function splitPre(version: string): [string, string | undefined] {
  const dash = version.indexOf('-');
  return dash < 0 ? [version.split('+')[0] ?? version, undefined] : [version.slice(0, dash), version.slice(dash + 1)];
}

function compareSegment(a: string, b: string): number {
  const numA = /^\d+$/.test(a) ? Number(a) : NaN;
  const numB = /^\d+$/.test(b) ? Number(b) : NaN;
  if (!Number.isNaN(numA) && !Number.isNaN(numB)) return numA - numB;
  if (!Number.isNaN(numA)) return -1;
  if (!Number.isNaN(numB)) return 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Whether a native (binary) version lies within a release's inclusive bounds. */
export function nativeVersionAllowed(native: string, bounds: { minNativeVersion?: string; maxNativeVersion?: string }): boolean {
  if (bounds.minNativeVersion !== undefined && compareVersions(native, bounds.minNativeVersion) < 0) return false;
  if (bounds.maxNativeVersion !== undefined && compareVersions(native, bounds.maxNativeVersion) > 0) return false;
  return true;
}
