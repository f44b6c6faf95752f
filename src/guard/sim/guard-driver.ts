import { createGuardState, evaluate } from '../evaluator.js';
import type { GuardConfig } from '../guard-config.js';
import type { BucketInputs, DecisionRecord, Evaluation, GuardState } from '../guard-types.js';
import { MINUTE_MS } from './world.js';

/** What one simulated rollout ended with. */
export interface RunOutcome {
  /** Minute (bucket end) of the first FAIL, or null. */
  failedAtMinute: number | null;
  failAction: Evaluation['decision']['action'] | null;
  failDetector: string | null;
  failingDevicesAtDetection: number | null;
  exposedDevicesAtDetection: number | null;
  pausedForData: boolean;
  passed: boolean;
  heldInconclusive: boolean;
}

/** Runs the production evaluator bucket by bucket and remembers what a run's summary needs. */
export class GuardDriver {
  private state: GuardState;
  readonly records: DecisionRecord[] = [];
  readonly outcome: RunOutcome = {
    failedAtMinute: null,
    failAction: null,
    failDetector: null,
    failingDevicesAtDetection: null,
    exposedDevicesAtDetection: null,
    pausedForData: false,
    passed: false,
    heldInconclusive: false,
  };

  constructor(private readonly config: GuardConfig, private readonly keepRecords = false) {
    this.state = createGuardState(config);
  }

  /** Evaluates one closed bucket (the caller stops the run on FAIL). */
  step(inputs: BucketInputs): Evaluation {
    const evaluation = evaluate(this.state, inputs, this.config);
    const { state, decision, record } = evaluation;
    this.state = state;
    if (this.keepRecords) this.records.push(record);
    if (decision.kind === 'pause_data') this.outcome.pausedForData = true;
    if (decision.kind === 'pass') this.outcome.passed = true;
    if (decision.kind === 'hold_inconclusive') this.outcome.heldInconclusive = true;
    if (decision.kind === 'fail' && this.outcome.failedAtMinute === null) {
      this.outcome.failedAtMinute = decision.at / MINUTE_MS;
      this.outcome.failAction = decision.action;
      this.outcome.failDetector = decision.trigger?.detector ?? null;
      this.outcome.failingDevicesAtDetection = decision.evidence?.counts.distinctFailingU ?? null;
      this.outcome.exposedDevicesAtDetection = decision.evidence?.exposures.exposedU ?? null;
    }
    return evaluation;
  }
}
