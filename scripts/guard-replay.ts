// Re-evaluates a rollout's guard decision log from MongoDB and exits non-zero on any mismatch.
// Usage: npm run guard:replay -- <rolloutId>   (MONGODB_URL as for the server)
import { loadConfig } from '../src/config.js';
import { connectMongo } from '../src/connections.js';
import { MongoGuardLogStore } from '../src/rollouts/guard-log-store.js';
import { replayRollout } from '../src/rollouts/guard-replay.js';

async function main(): Promise<number> {
  const rolloutId = process.argv[2];
  if (!rolloutId || !/^ro_[0-9a-f-]{36}$/.test(rolloutId)) {
    console.error('usage: npm run guard:replay -- <rolloutId>');
    return 2;
  }
  const mongo = await connectMongo(loadConfig().mongodbUrl);
  try {
    const result = await replayRollout(new MongoGuardLogStore(mongo), rolloutId);
    if (result.tests.length === 0) {
      console.error(`no guard decisions logged for ${rolloutId}`);
      return 1;
    }
    for (const test of result.tests) {
      const last = test.kinds.at(-1) ?? 'none';
      console.log(
        JSON.stringify({ rolloutId, testId: test.testId, decisions: test.decisions, lastDecision: last, configHash: test.configHash, configHashMatches: test.configHashMatches, mismatches: test.mismatches.length, ok: test.ok }),
      );
      for (const m of test.mismatches) console.log(JSON.stringify({ sequence: m.sequence, decisionMatched: m.decisionMatched, expected: m.expected.kind, actual: m.actual.kind }));
    }
    console.log(result.ok ? `replay OK: every decision reproduced exactly` : `replay FAILED: decisions differ`);
    return result.ok ? 0 : 1;
  } finally {
    await mongo.close();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`guard:replay failed: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
