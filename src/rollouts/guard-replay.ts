import type { GuardConfig } from '../guard/guard-config.js';
import type { DecisionRecord } from '../guard/guard-types.js';
import { replay, type ReplayMismatch } from '../guard/replay.js';
import type { GuardLogStore } from './guard-log-store.js';

export interface TestReplay {
  testId: number;
  decisions: number;
  configHash: string;
  configHashMatches: boolean;
  mismatches: ReplayMismatch[];
  /** Decision kinds in order, as recomputed. */
  kinds: string[];
  ok: boolean;
}

export interface RolloutReplay {
  rolloutId: string;
  ok: boolean;
  tests: TestReplay[];
}

/**
 * Re-evaluates every logged guard decision of a rollout, test by test, with the configuration the test
 * ran under, and reports any record that does not come out byte for byte the same.
 */
export async function replayRollout(log: GuardLogStore, rolloutId: string): Promise<RolloutReplay> {
  const tests: TestReplay[] = [];
  for (const testId of await log.testIds(rolloutId)) {
    const test = await log.getTest(rolloutId, testId);
    if (!test) continue;
    const entries = await log.listDecisions(rolloutId, { testId, limit: 10_000_000 });
    const records = entries.map((e) => JSON.parse(e.recordJson) as DecisionRecord);
    const result = replay(records, JSON.parse(test.configJson) as GuardConfig);
    tests.push({
      testId,
      decisions: records.length,
      configHash: test.configHash,
      configHashMatches: result.configHashMatches,
      mismatches: result.mismatches,
      kinds: result.decisions.map((d) => d.kind),
      ok: result.ok,
    });
  }
  return { rolloutId, ok: tests.every((t) => t.ok), tests };
}
