import { describe, expect, it } from 'vitest';
import { ConsentGate, consentScope } from '../../src/ingest/consent-gate.js';
import type { ConsentStateStore } from '../../src/ingest/consent-store.js';
import { GenerationCache, type Generations } from '../../src/ingest/generations.js';

/** Generations in memory: `advance` changes a scope's token, `down` makes reads fail like a Redis outage. */
class MemoryGenerations implements Generations {
  readonly tokens = new Map<string, number>();
  down = false;
  async read(scopes: readonly string[]): Promise<string[] | undefined> {
    return this.down ? undefined : scopes.map((s) => String(this.tokens.get(s) ?? 0));
  }
  async advance(scope: string): Promise<void> {
    this.tokens.set(scope, (this.tokens.get(scope) ?? 0) + 1);
  }
}

/** Consent states in memory, counting the database reads. */
class CountingStates implements Pick<ConsentStateStore, 'telemetryGranted'> {
  readonly granted = new Set<string>();
  reads = 0;
  async telemetryGranted(_appId: string, pids: readonly string[]): Promise<Set<string>> {
    this.reads++;
    return new Set(pids.filter((pid) => this.granted.has(pid)));
  }
}

const pidA = 'a1b'.padEnd(64, '0');
const pidB = 'a1b'.padEnd(64, '1'); // same bucket as A
const pidC = 'ffe'.padEnd(64, '2');

describe('GenerationCache', () => {
  it('answers only under the token the answer was stored with', () => {
    const cache = new GenerationCache<boolean>();
    cache.set('s', 't1', 'k', true);
    expect(cache.get('s', 't1', 'k')).toBe(true);
    expect(cache.get('s', 't2', 'k')).toBeUndefined();
    cache.set('s', 't2', 'other', false);
    expect(cache.get('s', 't1', 'k')).toBeUndefined(); // a new token forgot the scope's old answers
    expect(cache.get('s', 't2', 'other')).toBe(false);
  });

  it('starts over past its bound instead of growing', () => {
    const cache = new GenerationCache<number>(3);
    for (let i = 0; i < 5; i++) cache.set(`s${i}`, 't', 'k', i);
    expect(cache.get('s4', 't', 'k')).toBe(4);
    expect([0, 1, 2, 3, 4].filter((i) => cache.get(`s${i}`, 't', 'k') !== undefined).length).toBeLessThanOrEqual(3);
  });
});

describe('ConsentGate', () => {
  it('reads the database once per device while its bucket generation holds, again after a decision moves it', async () => {
    const states = new CountingStates();
    const generations = new MemoryGenerations();
    const gate = new ConsentGate(states, generations);
    states.granted.add(pidA);
    const check = async (...pids: string[]): Promise<Set<string>> => gate.granted('app', pids, await gate.tokens('app', pids));

    expect(await check(pidA, pidC)).toEqual(new Set([pidA]));
    expect(await check(pidA, pidC)).toEqual(new Set([pidA]));
    expect(states.reads).toBe(1);

    // A withdrawal of A: the service writes the state, then advances A's bucket.
    states.granted.delete(pidA);
    await generations.advance(consentScope('app', pidA));
    expect(await check(pidA)).toEqual(new Set());
    expect(states.reads).toBe(2);
    // B shares A's bucket: read once more; C's bucket did not move: no read.
    await check(pidB);
    await check(pidC);
    expect(states.reads).toBe(3);
  });

  it('reads the database on every batch when the generations cannot be read', async () => {
    const states = new CountingStates();
    const generations = new MemoryGenerations();
    const gate = new ConsentGate(states, generations);
    states.granted.add(pidA);
    generations.down = true;
    for (let i = 0; i < 3; i++) expect(await gate.granted('app', [pidA], await gate.tokens('app', [pidA]))).toEqual(new Set([pidA]));
    expect(states.reads).toBe(3);
  });
});
