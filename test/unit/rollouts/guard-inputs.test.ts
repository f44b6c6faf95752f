import { describe, expect, it } from 'vitest';
import { resolveGuardConfig } from '../../../src/guard/guard-config.js';
import type { ExposureStore } from '../../../src/rollouts/exposure-store.js';
import type { GuardEvent, GuardEventQuery, GuardEventSource } from '../../../src/rollouts/guard-event-source.js';
import { GuardInputLoader, type CountingScope, type EvaluatedBucket } from '../../../src/rollouts/guard-inputs.js';

const BUCKET = 1000;
const SETTLE = 500;
const cutoffOf = (bucketStart: number): number => bucketStart + BUCKET + SETTLE;

/** The `events` collection as the guard queries it; `visible` models writes that commit late. */
class FakeEvents implements GuardEventSource {
  readonly events: GuardEvent[] = [];
  async find(q: GuardEventQuery): Promise<GuardEvent[]> {
    return this.events
      .filter((e) => q.versions.includes(e.version) || (e.fromVersion !== undefined && q.versions.includes(e.fromVersion)))
      .filter((e) => e.occurredAt >= q.occurredFrom && e.occurredAt < q.occurredTo)
      .filter((e) => (q.receivedFrom === undefined || e.receivedAt >= q.receivedFrom) && (q.receivedTo === undefined || e.receivedAt < q.receivedTo))
      .sort((a, b) => a.receivedAt - b.receivedAt || a.eventId.localeCompare(b.eventId));
  }
}

function exposures(seen: Set<string>): ExposureStore {
  return {
    record: async () => undefined,
    remove: async () => undefined,
    seen: async (_rolloutId, pids) => new Set(pids.filter((p) => seen.has(p))),
    deleteForRollout: async () => 0,
    newDevices: async () => ({ devicesU: 0, devicesC: 0 }),
  };
}

const config = resolveGuardConfig({}, { platforms: ['android'], bucketMs: BUCKET });
const scope: CountingScope = {
  rolloutId: 'ro_test',
  testId: 1,
  appId: 'com.test.app',
  channel: 'production',
  versionU: '2.0.0',
  versionC: '1.0.0',
  testStartedAt: 0,
  config,
  baselineRates: { launch_failure: { all: 0.01 }, install_failure: { all: 0.01 } },
};
const context = { percent: 50, stepStartedAt: 0 };
let nextId = 0;
function ev(pid: string, type: GuardEvent['type'], version: string, occurredAt: number, receivedAt: number): GuardEvent {
  return { eventId: `e${nextId++}`, pid, type, version, platform: 'android', occurredAt, receivedAt };
}

async function evaluateAll(loader: GuardInputLoader, buckets: number[]) {
  const done: EvaluatedBucket[] = [];
  const out = [];
  for (const b of buckets) {
    out.push(await loader.inputsFor(scope, b, context, done.at(-1)?.bucketStart ?? null, async () => done));
    done.push({ bucketStart: b, silentSince: null });
  }
  return out;
}

describe('guard inputs from raw events', () => {
  it('counts a crash before app_ready as a launch failure of the bucket, per device, for seen devices only', async () => {
    const events = new FakeEvents();
    events.events.push(
      ev('a', 'installed', '2.0.0', 100, 300),
      ev('a', 'crash', '2.0.0', 200, 300),
      ev('a', 'crash', '2.0.0', 250, 300),
      ev('b', 'installed', '2.0.0', 100, 300),
      ev('b', 'app_ready', '2.0.0', 150, 300),
      ev('forged', 'installed', '2.0.0', 100, 300),
      ev('forged', 'crash', '2.0.0', 200, 300),
      ev('c', 'app_ready', '1.0.0', 100, 300),
      ev('c', 'crash', '1.0.0', 120, 300),
    );
    const loader = new GuardInputLoader(events, exposures(new Set(['a', 'b', 'c'])), cutoffOf);
    const [inputs] = await evaluateAll(loader, [0]);
    expect(inputs!.metrics.launch_failure!.all!.treatment).toEqual({ failing: 1, exposed: 2, newFailingDevices: 1 });
    expect(inputs!.metrics.crash_rate!.all).toEqual({ treatment: { failing: 1, exposed: 2, newFailingDevices: 1 }, control: { failing: 1, exposed: 1 } });
    // Devices a and b reported about U (five events between them); the forged device is not counted.
    expect(inputs!.health.reportingU).toBe(2);
  });

  it('leaves events that occurred after the bucket (during the settle time) for the next bucket', async () => {
    const events = new FakeEvents();
    events.events.push(ev('a', 'installed', '2.0.0', 1200, 1300), ev('a', 'crash', '2.0.0', 1250, 1300));
    const loader = new GuardInputLoader(events, exposures(new Set(['a'])), cutoffOf);
    const [first, second] = await evaluateAll(loader, [0, 1000]);
    expect(first!.health.reportingU).toBe(0);
    expect(first!.metrics.launch_failure!.all!.treatment.failing).toBe(0);
    expect(second!.health.reportingU).toBe(1); // device a, two events
    expect(second!.metrics.launch_failure!.all!.treatment.failing).toBe(1);
  });

  it('counts a write that committed after its bucket was evaluated in the next bucket, and never twice', async () => {
    const events = new FakeEvents();
    events.events.push(ev('a', 'installed', '2.0.0', 100, 200));
    const loader = new GuardInputLoader(events, exposures(new Set(['a', 'b'])), cutoffOf);
    const first = await loader.inputsFor(scope, 0, context, null, async () => []);
    expect(first.metrics.launch_failure!.all!.treatment.exposed).toBe(1);
    // Stamped before bucket 0's cut-off, visible only now.
    events.events.push(ev('b', 'installed', '2.0.0', 900, 1400), ev('b', 'crash', '2.0.0', 950, 1400));
    const second = await loader.inputsFor(scope, 1000, context, 0, async () => [{ bucketStart: 0, silentSince: null }]);
    // One-sample metric: the late failure joins the next bucket; device a is not counted again.
    expect(second.metrics.launch_failure!.all!.treatment).toEqual({ failing: 1, exposed: 1, newFailingDevices: 1 });
    expect(second.health.reportingU).toBe(1); // device b, two events
  });

  it('a worker without the counting state rebuilds it from the log and reaches the same inputs', async () => {
    const events = new FakeEvents();
    for (let i = 0; i < 30; i++) {
      const t = i * 150;
      events.events.push(ev(`d${i}`, 'installed', '2.0.0', t, t + 400));
      events.events.push(ev(`d${i % 5}`, 'crash', '2.0.0', t + 50, t + 700));
      events.events.push(ev(`c${i}`, 'app_ready', '1.0.0', t, t + 100));
    }
    const seen = new Set(events.events.map((e) => e.pid));
    const steady = await evaluateAll(new GuardInputLoader(events, exposures(seen), cutoffOf), [0, 1000, 2000, 3000, 4000]);
    const fresh = new GuardInputLoader(events, exposures(seen), cutoffOf);
    const before: EvaluatedBucket[] = [0, 1000, 2000, 3000].map((b) => ({ bucketStart: b, silentSince: null }));
    const rebuilt = await fresh.inputsFor(scope, 4000, context, 3000, async () => before);
    expect(rebuilt).toEqual(steady[4]);
    expect(steady.reduce((n, i) => n + (i.metrics.launch_failure!.all!.treatment.newFailingDevices ?? 0), 0)).toBeLessThanOrEqual(5);
  });
});
