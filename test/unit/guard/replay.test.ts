import { describe, expect, it } from 'vitest';
import type { DecisionRecord } from '../../../src/guard/guard-types.js';
import { replay } from '../../../src/guard/replay.js';
import { resolveGuardConfig } from '../../../src/guard/guard-config.js';
import { runDeviceLevel } from '../../../src/guard/sim/device-run.js';
import { runAggregate } from '../../../src/guard/sim/aggregate-run.js';
import { GuardDriver } from '../../../src/guard/sim/guard-driver.js';
import { createRng } from '../../../src/guard/sim/prng.js';
import { validateScenario } from '../../../src/guard/sim/scenario.js';
import { simGuardConfig, simulateBaselineRates } from '../../../src/guard/sim/world.js';

function logOf(records: DecisionRecord[]): DecisionRecord[] {
  // What the decision log stores and reads back.
  return JSON.parse(JSON.stringify(records)) as DecisionRecord[];
}

describe('replay', () => {
  const scenario = validateScenario({
    name: 'replay-launch', horizonMinutes: 180, devicesPerMinute: 40, metric: 'launch_failure', baselineRate: 0.01,
    regression: { multiplier: 20, fromMinute: 30 }, expect: { minDetectRate: 1 },
  });
  const config = simGuardConfig(scenario);
  const rng = createRng(7);
  const driver = new GuardDriver(config, true);
  runDeviceLevel(scenario, config, rng, simulateBaselineRates(scenario, rng), driver);
  const records = logOf(driver.records);

  it('reproduces every decision and intermediate value of a logged test from the JSON log', () => {
    expect(records.length).toBeGreaterThan(30);
    expect(records[records.length - 1]?.decision.kind).toBe('fail');
    const result = replay(records, config);
    expect(result.mismatches).toEqual([]);
    expect(result.ok).toBe(true);
    expect(result.decisions).toEqual(records.map((r) => r.decision));
  });

  it('reports the bucket whose logged inputs were altered', () => {
    const tampered = logOf(records);
    const target = tampered[10];
    const segment = target?.inputs.metrics.launch_failure?.all;
    if (!segment) throw new Error('fixture has no launch_failure input');
    segment.treatment.failing += 3;
    segment.treatment.exposed += 3;
    const result = replay(tampered, config);
    expect(result.ok).toBe(false);
    expect(result.mismatches[0]?.sequence).toBe(11);
  });

  it('refuses a configuration other than the one the log was written with', () => {
    const other = resolveGuardConfig({}, { platforms: ['android'], alphaFail: 0.02, metrics: { install_failure: { enabled: false }, crash_rate: { enabled: false } } });
    const result = replay(records, other);
    expect(result.configHashMatches).toBe(false);
    expect(result.ok).toBe(false);
  });

  it('replays an aggregate crash_rate run exactly too', () => {
    const crash = validateScenario({ name: 'replay-crash', horizonMinutes: 240, devicesPerMinute: 2000, metric: 'crash_rate', baselineRate: 0.005, regression: { multiplier: 3, fromMinute: 0 }, expect: { minDetectRate: 1 } });
    const crashConfig = simGuardConfig(crash);
    const crashDriver = new GuardDriver(crashConfig, true);
    const outcome = runAggregate(crash, crashConfig, createRng(11), crashDriver);
    expect(outcome.failedAtMinute).not.toBeNull();
    expect(replay(logOf(crashDriver.records), crashConfig).ok).toBe(true);
  });
});

