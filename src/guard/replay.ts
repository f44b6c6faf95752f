import { canonicalJson } from '../crypto/canonical-json.js';
import type { GuardConfig } from './guard-config.js';
import { configHash } from './guard-config.js';
import type { Decision, DecisionRecord, GuardState } from './guard-types.js';
import { createGuardState, evaluate } from './evaluator.js';

export interface ReplayMismatch {
  sequence: number;
  expected: Decision;
  actual: Decision;
  /** True when the decision matched but an intermediate value (Σℓ, Λ, CUSUM…) did not. */
  decisionMatched: boolean;
}

export interface ReplayResult {
  ok: boolean;
  configHashMatches: boolean;
  decisions: Decision[];
  mismatches: ReplayMismatch[];
  state: GuardState;
}

/**
 * Re-runs the evaluator over the logged inputs of one test, from a fresh state, and compares every
 * recomputed record — decision and intermediate values — with the logged one, byte for byte in
 * canonical JSON. Records must be the full log of the test, in sequence order.
 */
export function replay(records: readonly DecisionRecord[], config: GuardConfig): ReplayResult {
  const hash = configHash(config);
  const ordered = [...records].sort((a, b) => a.sequence - b.sequence);
  let state = createGuardState(config);
  const decisions: Decision[] = [];
  const mismatches: ReplayMismatch[] = [];
  for (const logged of ordered) {
    const result = evaluate(state, logged.inputs, config);
    state = result.state;
    decisions.push(result.decision);
    if (canonicalJson(result.record) !== canonicalJson(logged)) {
      mismatches.push({
        sequence: logged.sequence,
        expected: logged.decision,
        actual: result.decision,
        decisionMatched: canonicalJson(result.decision) === canonicalJson(logged.decision),
      });
    }
  }
  const configHashMatches = ordered.every((r) => r.configHash === hash);
  return { ok: configHashMatches && mismatches.length === 0, configHashMatches, decisions, mismatches, state };
}
