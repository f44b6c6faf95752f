import { describe, expect, it } from 'vitest';
import type { CounterRow } from '../../../src/metrics/counter-store.js';
import { ALL, type CounterValues } from '../../../src/metrics/metric-definitions.js';
import { series, summarize } from '../../../src/metrics/metrics-report.js';

const T = Date.parse('2026-01-15T00:00:00Z');
const row = (version: string, values: CounterValues, platform = 'ios', t = T): CounterRow => ({
  cell: { appId: 'com.test', g: 'day', t, channel: ALL, platform, version },
  values,
});

describe('metrics report arithmetic', () => {
  it('divides running devices by all active devices for adoption, and failing by exposed for rates', () => {
    const { activeDevices, versions } = summarize([
      row(ALL, { active: 8 }),
      row(ALL, { active: 2 }, 'android'),
      row('1.1.0', { active: 5, runIn: 4, crExp: 4, crash: 1, laExp: 4, laFail: 2, rb: 1 }),
      row('1.1.0', { active: 1, runIn: 1, crExp: 1 }, 'android'),
      row('1.0.0', { active: 5, runIn: 4, runOut: 1, dlExp: 2, dlFail: 1 }),
    ]);
    expect(activeDevices).toBe(10);
    const [newer, older] = versions;
    expect(newer).toMatchObject({ version: '1.1.0', activeDevices: 6, runningDevices: 5, adoption: 0.5 });
    expect(newer!.rates).toEqual({ download: null, install: null, launch: 0.5, crash: 0.2, rollback: 0.25 });
    expect(newer!.failingDevices).toEqual({ download: 0, install: 0, launch: 2, crash: 1, rollback: 1 });
    expect(newer!.exposedDevices).toEqual({ download: 0, install: 0, launch: 4, crash: 5 });
    expect(older).toMatchObject({ version: '1.0.0', runningDevices: 3, adoption: 0.3 });
    expect(older!.rates.download).toBe(0.5);
    expect((newer!.adoption ?? 0) + (older!.adoption ?? 0)).toBeLessThanOrEqual(1);
  });

  it('never reports a negative running count while a version switch is half flushed', () => {
    const { versions } = summarize([row(ALL, { active: 1 }), row('1.0.0', { active: 1, runOut: 1 })]);
    expect(versions[0]!.runningDevices).toBe(0);
    expect(versions[0]!.adoption).toBe(0);
  });

  it('reports null adoption when no device was active, and one series point per bucket', () => {
    expect(summarize([row('1.0.0', { dlExp: 1 })]).versions[0]!.adoption).toBeNull();
    const points = series([row(ALL, { active: 1 }, 'ios', T + 86_400_000), row(ALL, { active: 3 })]);
    expect(points.map((p) => [p.start, p.activeDevices])).toEqual([
      ['2026-01-15T00:00:00.000Z', 3],
      ['2026-01-16T00:00:00.000Z', 1],
    ]);
  });
});
