// Worker-thread entry of the simulation pool: runs the requested seeds of one scenario.
import { parentPort } from 'node:worker_threads';
import type { RunOutcome } from './guard-driver.js';
import { runOnce } from './run-scenario.js';
import type { RunOptions } from './run-scenario.js';
import type { Scenario } from './scenario.js';

export interface SimTask {
  taskId: number;
  scenario: Scenario;
  runIndices: number[];
  options: RunOptions;
}

export interface SimTaskResult {
  taskId: number;
  outcomes: RunOutcome[];
}

parentPort?.on('message', (task: SimTask) => {
  const outcomes = task.runIndices.map((i) => runOnce(task.scenario, i, task.options));
  const result: SimTaskResult = { taskId: task.taskId, outcomes };
  parentPort?.postMessage(result);
});
