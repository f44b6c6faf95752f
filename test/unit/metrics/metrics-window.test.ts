import { describe, expect, it } from 'vitest';
import { InvalidError } from '../../../src/errors.js';
import { resolveWindow } from '../../../src/metrics/metrics-window.js';

const NOW = Date.parse('2026-01-15T12:34:56Z');
const iso = (ms: number): string => new Date(ms).toISOString();

function fieldOf(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidError);
    return (err as InvalidError).details;
  }
  throw new Error('expected an InvalidError');
}

describe('metrics window', () => {
  it('defaults to the current UTC day in hours, the current hour in minutes, 30 days in days', () => {
    const hour = resolveWindow({}, NOW);
    expect([iso(hour.from), iso(hour.to), hour.bucket]).toEqual(['2026-01-15T00:00:00.000Z', '2026-01-16T00:00:00.000Z', 'hour']);
    expect(hour).toMatchObject({ summary: 'day', summaryBuckets: 1 });
    const minute = resolveWindow({ bucket: 'minute' }, NOW);
    expect([iso(minute.from), iso(minute.to)]).toEqual(['2026-01-15T12:00:00.000Z', '2026-01-15T13:00:00.000Z']);
    expect(minute).toMatchObject({ summary: 'hour', summaryBuckets: 1 });
    const day = resolveWindow({ bucket: 'day' }, NOW);
    expect([iso(day.from), iso(day.to)]).toEqual(['2025-12-17T00:00:00.000Z', '2026-01-16T00:00:00.000Z']);
    expect(day).toMatchObject({ summary: 'day', summaryBuckets: 30 });
  });

  it('rounds from down and to up to whole buckets', () => {
    const w = resolveWindow({ from: '2026-01-15T10:15:00Z', to: '2026-01-15T11:20:00Z', bucket: 'hour' }, NOW);
    expect([iso(w.from), iso(w.to)]).toEqual(['2026-01-15T10:00:00.000Z', '2026-01-15T12:00:00.000Z']);
    expect(w).toMatchObject({ summary: 'hour', summaryBuckets: 2 });
  });

  it('summarises in the coarsest buckets that tile the window', () => {
    const twoDays = resolveWindow({ from: '2026-01-13T00:00:00Z', to: '2026-01-15T00:00:00Z', bucket: 'hour' }, NOW);
    expect(twoDays).toMatchObject({ summary: 'day', summaryBuckets: 2 });
    const oneDay = resolveWindow({ from: '2026-01-14T00:00:00Z', to: '2026-01-15T00:00:00Z', bucket: 'minute' }, NOW);
    expect(oneDay).toMatchObject({ summary: 'day', summaryBuckets: 1 });
    const minutes = resolveWindow({ from: '2026-01-15T10:15:00Z', to: '2026-01-15T10:45:00Z', bucket: 'minute' }, NOW);
    expect(minutes).toMatchObject({ summary: 'minute', summaryBuckets: 30 });
  });

  it('rejects from after to, unparseable dates and windows too large for the bucket, naming the field', () => {
    expect(fieldOf(() => resolveWindow({ from: '2026-01-15T12:00:00Z', to: '2026-01-15T11:00:00Z' }, NOW))).toMatchObject({ field: 'query.from' });
    expect(fieldOf(() => resolveWindow({ from: '2026-01-15T12:00:00Z', to: '2026-01-15T12:00:00Z' }, NOW))).toMatchObject({ field: 'query.from' });
    expect(fieldOf(() => resolveWindow({ to: 'yesterday' }, NOW))).toMatchObject({ field: 'query.to' });
    const tooLong = fieldOf(() => resolveWindow({ from: '2026-01-13T00:00:00Z', to: '2026-01-15T00:00:01Z', bucket: 'minute' }, NOW));
    expect(tooLong).toMatchObject({ field: 'query.from' });
    expect(String((tooLong as { reason: string }).reason)).toContain('at most 1440');
    expect(() => resolveWindow({ from: '2026-01-14T00:00:00Z', to: '2026-01-15T00:00:00Z', bucket: 'minute' }, NOW)).not.toThrow();
  });

  it('refuses a window reaching back past the minute or hour counters kept, and allows the oldest kept bucket', () => {
    const kept = { minute: 7, hour: 90 };
    // NOW is 12:34:56; seven days back the oldest kept minute bucket starts at 12:34:00.
    expect(() => resolveWindow({ from: '2026-01-08T12:34:00Z', to: '2026-01-08T13:00:00Z', bucket: 'minute' }, NOW, kept)).not.toThrow();
    const minute = fieldOf(() => resolveWindow({ from: '2026-01-08T12:33:59Z', to: '2026-01-08T13:00:00Z', bucket: 'minute' }, NOW, kept));
    expect(minute).toMatchObject({ field: 'query.from' });
    expect(String((minute as { reason: string }).reason)).toContain('7 days minute counters are kept');
    expect(fieldOf(() => resolveWindow({ from: '2025-10-17T11:00:00Z', to: '2025-10-17T13:00:00Z', bucket: 'hour' }, NOW, kept))).toMatchObject({ field: 'query.from' });
    expect(() => resolveWindow({ from: '2025-10-17T12:00:00Z', to: '2025-10-17T13:00:00Z', bucket: 'hour' }, NOW, kept)).not.toThrow();
    // Day counters are kept for good; without a retention every window is allowed.
    expect(() => resolveWindow({ from: '2025-01-20T00:00:00Z', to: '2025-01-21T00:00:00Z', bucket: 'day' }, NOW, kept)).not.toThrow();
    expect(() => resolveWindow({ from: '2025-01-20T00:00:00Z', to: '2025-01-20T01:00:00Z', bucket: 'minute' }, NOW)).not.toThrow();
    // The summary's granularity counts too: minutes kept longer than hours cannot summarise in purged hours.
    const longMinutes = { minute: 30, hour: 7 };
    expect(() => resolveWindow({ from: '2026-01-01T10:15:00Z', to: '2026-01-01T10:45:00Z', bucket: 'minute' }, NOW, longMinutes)).not.toThrow();
    expect(fieldOf(() => resolveWindow({ from: '2026-01-01T10:00:00Z', to: '2026-01-01T11:00:00Z', bucket: 'minute' }, NOW, longMinutes))).toMatchObject({ field: 'query.from' });
  });
});
