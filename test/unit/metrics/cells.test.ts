import { describe, expect, it } from 'vitest';
import { cellFacts, runningTransitions } from '../../../src/metrics/cells.js';

const u = { appId: 'com.test', g: 'hour' as const, t: 0, platform: 'ios' };
const show = (list: ReturnType<typeof runningTransitions>) => list.map(({ cell, field }) => `${field} ${cell.channel}/${cell.version}`);

describe('running transitions', () => {
  it('counts a first confirmation in its channel and across channels', () => {
    expect(show(runningTransitions({ ...u, tag: '2.0|beta' }, ''))).toEqual(['runIn beta/2.0', 'runIn */2.0']);
  });

  it('moves a device between versions when a later app_ready names another version', () => {
    expect(show(runningTransitions({ ...u, tag: '2.0|beta' }, '100|1.0|beta'))).toEqual([
      'runOut beta/1.0',
      'runIn beta/2.0',
      'runOut */1.0',
      'runIn */2.0',
    ]);
  });

  it('moves a device between channels only in the channel rows when its version is unchanged', () => {
    expect(show(runningTransitions({ ...u, tag: '2.0|production' }, '100|2.0|beta'))).toEqual(['runOut beta/2.0', 'runIn production/2.0']);
  });

  it('changes nothing for a confirmation that is not newer or names the same version and channel', () => {
    expect(runningTransitions({ ...u, tag: '2.0|beta' }, null)).toEqual([]);
    expect(runningTransitions({ ...u, tag: '2.0|beta' }, '100|2.0|beta')).toEqual([]);
  });
});

describe('cell facts', () => {
  it('expands a fact to every granularity, in its channel row and the all-channels row', () => {
    const units = cellFacts({ appId: 'a', pid: 'p', version: '1', channel: 'beta', platform: 'ios', field: 'crash', at: Date.parse('2026-01-15T12:34:56Z') });
    expect(units.map((x) => `${x.cell.g} ${new Date(x.cell.t).toISOString()} ${x.cell.channel}`)).toEqual([
      'minute 2026-01-15T12:34:00.000Z beta',
      'minute 2026-01-15T12:34:00.000Z *',
      'hour 2026-01-15T12:00:00.000Z beta',
      'hour 2026-01-15T12:00:00.000Z *',
      'day 2026-01-15T00:00:00.000Z beta',
      'day 2026-01-15T00:00:00.000Z *',
    ]);
  });
});
