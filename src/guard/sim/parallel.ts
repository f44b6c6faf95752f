import { Worker } from 'node:worker_threads';
import type { RunOutcome } from './guard-driver.js';
import type { RunOptions } from './run-scenario.js';
import { runOnce } from './run-scenario.js';
import type { Scenario } from './scenario.js';
import type { SimTask, SimTaskResult } from './sim-worker.js';

const RUNS_PER_TASK = 10;
// A larger young generation halves the scavenger's share of device-level runs.
const YOUNG_GENERATION_MB = 64;

/**
 * Runs every seed of every scenario, spread over `workers` threads. Each run's seed depends only on
 * the scenario name and run index, so results are identical for any worker count.
 * Returns outcomes in scenario order, each in run-index order.
 */
export async function runAll(scenarios: Scenario[], options: RunOptions, workers: number): Promise<RunOutcome[][]> {
  const results = scenarios.map((s) => new Array<RunOutcome>(options.seeds ?? s.seeds));
  const tasks: (SimTask & { scenarioIndex: number })[] = [];
  scenarios.forEach((scenario, scenarioIndex) => {
    const runs = options.seeds ?? scenario.seeds;
    for (let start = 0; start < runs; start += RUNS_PER_TASK) {
      const runIndices = Array.from({ length: Math.min(RUNS_PER_TASK, runs - start) }, (_, i) => start + i);
      tasks.push({ taskId: tasks.length, scenario, runIndices, options, scenarioIndex });
    }
  });
  const store = (task: SimTask & { scenarioIndex: number }, outcomes: RunOutcome[]): void => {
    const target = results[task.scenarioIndex];
    if (target) task.runIndices.forEach((runIndex, i) => (target[runIndex] = outcomes[i] as RunOutcome));
  };

  if (workers <= 1) {
    for (const task of tasks) store(task, task.runIndices.map((i) => runOnce(task.scenario, i, options)));
    return results;
  }

  const runningTypeScript = import.meta.url.endsWith('.ts');
  const url = new URL(`./sim-worker${runningTypeScript ? '.ts' : '.js'}`, import.meta.url);
  // Under tsx the loader hooks live in the main thread only; a worker must register them itself.
  const entry = runningTypeScript
    ? `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then(({ register }) => { register(); return import(${JSON.stringify(url.href)}); });`
    : url;
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(workers, tasks.length) }, () =>
      new Promise<void>((resolve, reject) => {
        const worker = new Worker(entry, { eval: runningTypeScript, resourceLimits: { maxYoungGenerationSizeMb: YOUNG_GENERATION_MB } });
        const dispatch = (): void => {
          const task = tasks[next++];
          if (!task) {
            void worker.terminate().then(() => resolve());
            return;
          }
          const { scenarioIndex: _ignored, ...message } = task;
          worker.postMessage(message);
        };
        worker.on('message', (result: SimTaskResult) => {
          const task = tasks[result.taskId];
          if (task) store(task, result.outcomes);
          dispatch();
        });
        worker.on('error', reject);
        dispatch();
      }),
    ),
  );
  return results;
}
