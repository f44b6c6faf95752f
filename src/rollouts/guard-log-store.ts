import { Schema, type Connection, type Model } from 'mongoose';
import { isDuplicateKeyError, rawCollection } from '../connections.js';

/** One guard test of one rollout: the exact configuration it runs with and its fixed baseline rates. */
export interface GuardTest {
  rolloutId: string;
  testId: number;
  /** Canonical JSON of the effective GuardConfig (replay uses exactly this). */
  configJson: string;
  configHash: string;
  /** Canonical JSON of λ0 per metric and segment (historical-control metrics). */
  baselineRatesJson: string;
  startedAt: Date;
}

/** One evaluation of one (rollout, bucket): unique, so a retried or duplicated job never applies twice. */
export interface GuardDecisionEntry {
  id: string;
  rolloutId: string;
  appId: string;
  testId: number;
  sequence: number;
  bucketStart: number;
  kind: string;
  action: string;
  /** Canonical JSON of the evaluator's DecisionRecord (inputs, Σℓ, Λ, CUSUM, thresholds, decision). */
  recordJson: string;
  /** JSON of the guard state after this evaluation; the next bucket starts from it. */
  stateJson: string;
  createdAt: Date;
  /** Set once the decision's effects (rollout change, incident, audit, webhooks) are done. */
  appliedAt: Date | null;
}

export interface GuardLogStore {
  /** Idempotent; returns the stored test (the first writer's, when two race). */
  ensureTest(test: GuardTest): Promise<GuardTest>;
  getTest(rolloutId: string, testId: number): Promise<GuardTest | null>;
  /** false when the (rollout, bucket) was already evaluated, or another evaluation took this sequence number. */
  insertDecision(entry: GuardDecisionEntry): Promise<boolean>;
  getDecision(id: string): Promise<GuardDecisionEntry | null>;
  latestDecision(rolloutId: string, testId: number): Promise<GuardDecisionEntry | null>;
  markApplied(id: string, at: Date): Promise<void>;
  /** In sequence order; `testId` omitted = every test. */
  listDecisions(rolloutId: string, options: { testId?: number; afterSequence?: number; limit: number }): Promise<GuardDecisionEntry[]>;
  testIds(rolloutId: string): Promise<number[]>;
}

type TestDoc = GuardTest & { _id: string };
type DecisionDoc = Omit<GuardDecisionEntry, 'id'> & { _id: string };

const testSchema = new Schema<TestDoc>(
  {
    _id: { type: String, required: true },
    rolloutId: { type: String, required: true },
    testId: { type: Number, required: true },
    configJson: { type: String, required: true },
    configHash: { type: String, required: true },
    baselineRatesJson: { type: String, required: true },
    startedAt: { type: Date, required: true },
  },
  { versionKey: false, collection: 'guard_tests' },
);
// guard:replay lists a rollout's tests.
testSchema.index({ rolloutId: 1, testId: 1 });

const decisionSchema = new Schema<DecisionDoc>(
  {
    _id: { type: String, required: true },
    rolloutId: { type: String, required: true },
    appId: { type: String, required: true },
    testId: { type: Number, required: true },
    sequence: { type: Number, required: true },
    bucketStart: { type: Number, required: true },
    kind: { type: String, required: true },
    action: { type: String, required: true },
    recordJson: { type: String, required: true },
    stateJson: { type: String, required: true },
    createdAt: { type: Date, required: true },
    appliedAt: { type: Date, default: null },
  },
  { versionKey: false, collection: 'guard_decisions' },
);
// The decision log of a rollout (per test, in order) and the latest state of the running test. Unique:
// two evaluations that started from the same state cannot both be logged, so the state chain stays linear.
decisionSchema.index({ rolloutId: 1, testId: 1, sequence: 1 }, { unique: true });

const testKey = (rolloutId: string, testId: number): string => `${rolloutId}:${testId}`;
const toTest = ({ _id: _ignored, ...rest }: TestDoc): GuardTest => rest;
const toDecision = ({ _id, ...rest }: DecisionDoc): GuardDecisionEntry => ({ id: _id, ...rest, appliedAt: rest.appliedAt ?? null });

export class MongoGuardLogStore implements GuardLogStore {
  readonly tests: Model<TestDoc>;
  readonly decisions: Model<DecisionDoc>;

  constructor(connection: Connection) {
    this.tests = connection.model<TestDoc>('GuardTest', testSchema);
    this.decisions = connection.model<DecisionDoc>('GuardDecision', decisionSchema);
  }

  async ensureTest(test: GuardTest): Promise<GuardTest> {
    const _id = testKey(test.rolloutId, test.testId);
    await rawCollection(this.tests).updateOne({ _id }, { $setOnInsert: test }, { upsert: true });
    const stored = await this.getTest(test.rolloutId, test.testId);
    if (!stored) throw new Error('guard test vanished after upsert');
    return stored;
  }

  async getTest(rolloutId: string, testId: number): Promise<GuardTest | null> {
    const doc = await this.tests.findById(testKey(rolloutId, testId)).lean<TestDoc>();
    return doc ? toTest(doc) : null;
  }

  async insertDecision({ id, ...rest }: GuardDecisionEntry): Promise<boolean> {
    try {
      await rawCollection(this.decisions).insertOne({ _id: id, ...rest });
      return true;
    } catch (err) {
      if (isDuplicateKeyError(err)) return false;
      throw err;
    }
  }

  async getDecision(id: string): Promise<GuardDecisionEntry | null> {
    const doc = await this.decisions.findById(id).lean<DecisionDoc>();
    return doc ? toDecision(doc) : null;
  }

  async latestDecision(rolloutId: string, testId: number): Promise<GuardDecisionEntry | null> {
    const doc = await this.decisions.findOne({ rolloutId, testId }).sort({ sequence: -1 }).lean<DecisionDoc>();
    return doc ? toDecision(doc) : null;
  }

  async markApplied(id: string, at: Date): Promise<void> {
    await rawCollection(this.decisions).updateOne({ _id: id }, { $set: { appliedAt: at } });
  }

  async listDecisions(rolloutId: string, options: { testId?: number; afterSequence?: number; limit: number }): Promise<GuardDecisionEntry[]> {
    const query: Record<string, unknown> = { rolloutId };
    if (options.testId !== undefined) query.testId = options.testId;
    if (options.afterSequence !== undefined) query.sequence = { $gt: options.afterSequence };
    const docs = await this.decisions.find(query).sort({ testId: 1, sequence: 1 }).limit(options.limit).lean<DecisionDoc[]>();
    return docs.map(toDecision);
  }

  async testIds(rolloutId: string): Promise<number[]> {
    const docs = await this.tests.find({ rolloutId }, { testId: 1 }).sort({ testId: 1 }).lean<Array<{ testId: number }>>();
    return docs.map((doc) => doc.testId);
  }
}
