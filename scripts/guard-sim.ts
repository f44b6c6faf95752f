// Replays guard scenarios through the production counting and evaluator, many seeds each.
// Usage: npx tsx scripts/guard-sim.ts [--seeds N] [--workers N] [--device-level] <scenario.json …>
// Prints one JSON line per scenario; exits 1 if any expectation fails, 2 on unusable input.
import { readFileSync } from 'node:fs';
import { ScenarioError, parseScenario } from '../src/guard/sim/scenario.js';
import type { Scenario } from '../src/guard/sim/scenario.js';
import { availableParallelism } from 'node:os';
import { runAll } from '../src/guard/sim/parallel.js';
import type { RunOptions } from '../src/guard/sim/run-scenario.js';
import { summarise } from '../src/guard/sim/summary.js';

interface Args {
  files: string[];
  options: RunOptions;
  workers: number;
}

function parseArgs(argv: string[]): Args {
  const files: string[] = [];
  const options: RunOptions = {};
  // Two by default: the harness is meant to finish in minutes on a shared two-core machine.
  let workers = Math.min(2, availableParallelism());
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i] ?? '';
    if (arg === '--seeds') {
      const value = Number(argv[++i]);
      if (!Number.isInteger(value) || value < 1) throw new Error('--seeds needs a positive integer');
      options.seeds = value;
    } else if (arg === '--workers') {
      workers = Number(argv[++i]);
      if (!Number.isInteger(workers) || workers < 1) throw new Error('--workers needs a positive integer');
    } else if (arg === '--device-level') options.forceDeviceLevel = true;
    else if (arg.startsWith('--')) throw new Error(`unknown option ${arg}`);
    else files.push(arg);
  }
  if (files.length === 0) throw new Error('usage: guard-sim [--seeds N] [--device-level] <scenario.json …>');
  return { files, options, workers };
}

async function main(): Promise<number> {
  let parsed: Args;
  const scenarios: Scenario[] = [];
  try {
    parsed = parseArgs(process.argv.slice(2));
    const problems: string[] = [];
    for (const file of parsed.files) {
      try {
        scenarios.push(parseScenario(readFileSync(file, 'utf8'), file));
      } catch (error) {
        problems.push(error instanceof ScenarioError ? error.message : `${file}: ${(error as Error).message}`);
      }
    }
    const names = new Set<string>();
    for (const s of scenarios) {
      if (names.has(s.name)) problems.push(`duplicate scenario name "${s.name}"`);
      names.add(s.name);
    }
    if (problems.length > 0) {
      process.stderr.write(`${problems.join('\n')}\n`);
      return 2;
    }
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n`);
    return 2;
  }
  const outcomes = await runAll(scenarios, parsed.options, parsed.workers);
  let allHeld = true;
  scenarios.forEach((scenario, i) => {
    const summary = summarise(scenario, outcomes[i] ?? []);
    allHeld &&= summary.expectHeld;
    process.stdout.write(`${JSON.stringify(summary)}\n`);
  });
  return allHeld ? 0 : 1;
}

process.exitCode = await main();
