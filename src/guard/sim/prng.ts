import { logGamma } from '../special-functions.js';

/** A seeded generator of uniforms in [0, 1) and the discrete draws the harness needs. */
export interface Rng {
  next(): number;
  between(lo: number, hi: number): number;
  bernoulli(p: number): boolean;
  poisson(mean: number): number;
  binomial(n: number, p: number): number;
}

/** 32-bit FNV-1a: turns a scenario name and run index into a reproducible seed. */
export function seedFromString(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i += 1) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

/**
 * xoshiro128** seeded through splitmix32, with 53-bit uniforms (two outputs each) so that rare
 * events with p ≈ 1e-4 are not quantised.
 */
export function createRng(seed: number): Rng {
  let state = seed >>> 0;
  const splitmix = (): number => {
    state = (state + 0x9e3779b9) >>> 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (z ^ (z >>> 16)) >>> 0;
  };
  let a = splitmix();
  let b = splitmix();
  let c = splitmix();
  let d = splitmix();
  const nextUint = (): number => {
    const result = Math.imul(rotl(Math.imul(b, 5), 7), 9) >>> 0;
    const t = b << 9;
    c ^= a;
    d ^= b;
    b ^= c;
    a ^= d;
    c ^= t;
    d = rotl(d, 11);
    return result;
  };
  const next = (): number => ((nextUint() >>> 5) * 67108864 + (nextUint() >>> 6)) / 9007199254740992;
  const rng: Rng = {
    next,
    between: (lo, hi) => lo + (hi - lo) * next(),
    bernoulli: (p) => next() < p,
    poisson: (mean) => discreteFromMode(next(), poissonMode(mean), poissonStep(mean), poissonLogPmf(mean)),
    binomial: (n, p) => {
      if (n <= 0 || p <= 0) return 0;
      if (p >= 1) return n;
      return discreteFromMode(next(), Math.min(n, Math.floor((n + 1) * p)), binomialStep(n, p), binomialLogPmf(n, p), n);
    },
  };
  return rng;
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

type Step = (k: number, pmfK: number, up: boolean) => number;

const poissonMode = (mean: number): number => Math.floor(mean);
const poissonLogPmf = (mean: number) => (k: number): number => (mean > 0 ? k * Math.log(mean) - mean - logGamma(k + 1) : k === 0 ? 0 : -Infinity);
// pmf(k+1) = pmf(k)·λ/(k+1); pmf(k−1) = pmf(k)·k/λ
const poissonStep = (mean: number): Step => (k, pmfK, up) => (up ? (pmfK * mean) / (k + 1) : (pmfK * k) / mean);

const binomialLogPmf = (n: number, p: number) => (k: number): number =>
  logGamma(n + 1) - logGamma(k + 1) - logGamma(n - k + 1) + k * Math.log(p) + (n - k) * Math.log1p(-p);
const binomialStep = (n: number, p: number): Step => (k, pmfK, up) =>
  up ? (pmfK * (n - k) * p) / ((k + 1) * (1 - p)) : (pmfK * k * (1 - p)) / ((n - k + 1) * p);

/**
 * Exact inversion that starts at the mode and walks outwards, alternating sides: any fixed
 * enumeration of the support gives the exact distribution, and this one needs O(σ) steps.
 */
function discreteFromMode(u: number, mode: number, step: Step, logPmf: (k: number) => number, max = Number.POSITIVE_INFINITY): number {
  const pmfMode = Math.exp(logPmf(mode));
  let remaining = u - pmfMode;
  if (remaining < 0) return mode;
  let lo = mode;
  let hi = mode;
  let pmfLo = pmfMode;
  let pmfHi = pmfMode;
  for (let guard = 0; guard < 1e7; guard += 1) {
    const canUp = hi < max && pmfHi > 0;
    const canDown = lo > 0 && pmfLo > 0;
    if (!canUp && !canDown) break;
    if (canUp) {
      pmfHi = step(hi, pmfHi, true);
      hi += 1;
      remaining -= pmfHi;
      if (remaining < 0) return hi;
    }
    if (canDown) {
      pmfLo = step(lo, pmfLo, false);
      lo -= 1;
      remaining -= pmfLo;
      if (remaining < 0) return lo;
    }
  }
  // Only reachable through rounding when u is within ~1e-15 of 1.
  return mode;
}
