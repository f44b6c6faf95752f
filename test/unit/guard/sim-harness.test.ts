import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { runOnce, runScenario, simulationLevel } from '../../../src/guard/sim/run-scenario.js';
import { parseScenario, validateScenario } from '../../../src/guard/sim/scenario.js';
import type { Scenario } from '../../../src/guard/sim/scenario.js';

const fixture = (name: string): Scenario =>
  parseScenario(readFileSync(new URL(`./fixtures/${name}.json`, import.meta.url), 'utf8'), name);

describe('simulation harness', () => {
  it('is reproducible: a run depends only on the scenario name and run index', () => {
    const scenario = validateScenario({ name: 'repro', horizonMinutes: 300, devicesPerMinute: 100, metric: 'launch_failure', baselineRate: 0.01, regression: { multiplier: 10, fromMinute: 60 }, expect: { minDetectRate: 1 } });
    expect(runOnce(scenario, 3)).toEqual(runOnce(scenario, 3));
    expect(runOnce(scenario, 3).failedAtMinute).not.toBeNull();
  });

  it('pauses for data and never rolls back when U telemetry stops (launch_failure, device level)', () => {
    const summary = runScenario(fixture('telemetry-gap-launch'), { seeds: 4 });
    expect(summary).toMatchObject({ pausedForDataRate: 1, alarmRate: 0, expectHeld: true });
  });

  it('pauses for data during a crash_rate telemetry gap at high traffic', () => {
    const summary = runScenario(fixture('telemetry-gap-crash'), { seeds: 3 });
    expect(summary).toMatchObject({ pausedForDataRate: 1, alarmRate: 0, expectHeld: true });
  });

  it('reports an expectation that does not hold, with the reason', () => {
    const strict = validateScenario({ name: 'too-strict', seeds: 3, horizonMinutes: 120, devicesPerMinute: 2000, metric: 'crash_rate', baselineRate: 0.005, regression: { multiplier: 1.5, fromMinute: 0 }, expect: { minDetectRate: 1, maxMedianMinutes: 10 } });
    const summary = runScenario(strict);
    expect(summary.expectHeld).toBe(false);
    expect(summary.violations?.join(' ')).toMatch(/detectRate|medianMinutes/);
  });

  it('uses device-level counting wherever faults act on events', () => {
    expect(simulationLevel(fixture('shared-shock'))).toBe('aggregate');
    expect(simulationLevel(fixture('duplicates-and-late'))).toBe('device');
    expect(simulationLevel(validateScenario({ name: 'loop', devicesPerMinute: 10, metric: 'crash_rate', baselineRate: 0.01, faults: { crashLoopDevices: 1, crashLoopEventsPerMinute: 5 }, expect: { maxFalseAlarmRate: 0 } }))).toBe('device');
  });
});
