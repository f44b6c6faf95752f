import { runAggregate } from './aggregate-run.js';
import { runDeviceLevel } from './device-run.js';
import type { RunOutcome } from './guard-driver.js';
import { createRng, seedFromString } from './prng.js';
import type { Scenario } from './scenario.js';
import type { ScenarioSummary } from './summary.js';
import { summarise } from './summary.js';
import { simGuardConfig, simulateBaselineRates } from './world.js';

export interface RunOptions {
  /** Replace the scenario's seed count (quick checks). */
  seeds?: number;
  /** Send every device's events through the counter even where tallies are equivalent (slow; for cross-checks). */
  forceDeviceLevel?: boolean;
}

function hasDeviceFaults(scenario: Scenario): boolean {
  const f = scenario.faults;
  return f.duplicateFraction > 0 || f.lateFraction > 0 || f.crashLoopDevices > 0;
}

/** Which model a scenario runs on: aggregate only where device detail cannot change the counts. */
export function simulationLevel(scenario: Scenario, options: RunOptions = {}): 'aggregate' | 'device' {
  if (options.forceDeviceLevel) return 'device';
  return scenario.metric === 'crash_rate' && !hasDeviceFaults(scenario) ? 'aggregate' : 'device';
}

/** One seeded run; the seed depends only on the scenario name and the run index. */
export function runOnce(scenario: Scenario, runIndex: number, options: RunOptions = {}): RunOutcome {
  const config = simGuardConfig(scenario);
  const rng = createRng(seedFromString(`${scenario.name}#${runIndex}`));
  if (simulationLevel(scenario, options) === 'aggregate') return runAggregate(scenario, config, rng);
  const baselineRates = scenario.metric === 'crash_rate' ? {} : simulateBaselineRates(scenario, rng);
  return runDeviceLevel(scenario, config, rng, baselineRates, undefined, options.forceDeviceLevel);
}

export function runScenario(scenario: Scenario, options: RunOptions = {}): ScenarioSummary {
  const runs = options.seeds ?? scenario.seeds;
  const outcomes: RunOutcome[] = [];
  for (let i = 0; i < runs; i += 1) outcomes.push(runOnce(scenario, i, options));
  return summarise(scenario, outcomes);
}
