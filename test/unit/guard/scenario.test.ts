import { readFileSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DEFAULT_STEPS, ScenarioError, parseScenario } from '../../../src/guard/sim/scenario.js';

const SHARED = '/work/shared/guard/scenarios';

function problemsOf(text: string): string[] {
  try {
    parseScenario(text, 'bad.json');
  } catch (error) {
    if (error instanceof ScenarioError) return error.problems;
    throw error;
  }
  throw new Error('expected the scenario to be rejected');
}

describe('scenario parser', () => {
  it('accepts every shared scenario and fills the FORMAT.md defaults', () => {
    const files = readdirSync(SHARED).filter((f) => f.endsWith('.json'));
    expect(files.length).toBeGreaterThan(0);
    for (const file of files) expect(() => parseScenario(readFileSync(`${SHARED}/${file}`, 'utf8'), file)).not.toThrow();
    const s = parseScenario('{"name":"n","devicesPerMinute":10,"metric":"crash_rate","baselineRate":0.01,"expect":{"maxFalseAlarmRate":0.01}}');
    expect(s).toMatchObject({ seeds: 200, horizonMinutes: 1440, platforms: { android: 1 }, regression: null, sharedShock: null });
    expect(s.steps).toEqual(DEFAULT_STEPS);
  });

  it('rejects malformed JSON with the file name and the parser message', () => {
    expect(() => parseScenario('{"name": ', 'broken.json')).toThrow(/broken\.json: invalid scenario[\s\S]*not valid JSON/);
  });

  it('lists every problem at once, each naming its field', () => {
    const problems = problemsOf(JSON.stringify({
      seeds: 0,
      devicesPerMinute: -5,
      metric: 'latency',
      baselineRate: 2,
      steps: [{ atMinute: 0, percent: 1 }, { atMinute: 0, percent: 150 }],
      platforms: { android: 0.5, ios: 0.4 },
      faults: { duplicateFraction: 1.5, surprise: true },
      expect: {},
      extra: 1,
    }));
    expect(problems).toEqual(expect.arrayContaining([
      'extra is not a known field (allowed: name, seeds, horizonMinutes, steps, devicesPerMinute, platforms, metric, baselineRate, regression, sharedShock, faults, expect)',
      'name is required and must be a non-empty string',
      'seeds must be ≥ 1, got 0',
      'devicesPerMinute must be > 0, got -5',
      'baselineRate must be ≤ 1, got 2',
      'metric must be one of install_failure, launch_failure, crash_rate, got "latency"',
      'steps[1].percent must be ≤ 100, got 150',
      'steps must be in increasing atMinute order (steps[1].atMinute = 0)',
      'platforms shares must sum to 1, got 0.9',
      'faults.duplicateFraction must be ≤ 1, got 1.5',
      expect.stringMatching(/^faults\.surprise is not a known field/),
    ]));
  });

  it('requires expectations that match the scenario', () => {
    const base = { name: 'n', devicesPerMinute: 10, metric: 'crash_rate', baselineRate: 0.01 };
    expect(problemsOf(JSON.stringify(base))).toContain('expect is required: {maxFalseAlarmRate} | {minDetectRate, maxMedianMinutes, maxFailingDevicesAtDetection?} | {pausedForData, noRollback}');
    expect(problemsOf(JSON.stringify({ ...base, expect: { minDetectRate: 1 } }))).toContain('expect.minDetectRate/maxMedianMinutes need a regression to detect');
    expect(problemsOf(JSON.stringify({ ...base, expect: { pausedForData: true } }))).toContain('expect.pausedForData needs faults.telemetryGap');
    expect(problemsOf(JSON.stringify({ ...base, regression: { multiplier: 2, fromMinute: 0, platforms: ['ios'] }, expect: { minDetectRate: 1 } }))).toContain('regression.platforms must list platforms declared in platforms (android)');
  });
});
