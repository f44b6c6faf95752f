import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { addBusinessDays, addCalendarMonths, extendedDeadline, initialDeadlines, noticeDue } from '../../../src/privacy/deadlines.js';

const at = (iso: string): Date => new Date(iso);
const endOf = (day: string): string => `${day}T23:59:59.999Z`;

describe('GDPR: one calendar month, end of the due day (UTC)', () => {
  it.each([
    ['2026-01-15T09:30:00Z', '2026-02-15'],
    ['2026-01-31T10:00:00Z', '2026-02-28'], // no Feb 31: the month's last day
    ['2028-01-31T10:00:00Z', '2028-02-29'], // leap year
    ['2026-03-31T00:00:00Z', '2026-04-30'],
    ['2026-12-15T23:59:59Z', '2027-01-15'], // year boundary
    ['2026-02-28T12:00:00Z', '2026-03-28'], // same date, not "end of month"
  ])('received %s → due end of %s', (received, due) => {
    expect(initialDeadlines('gdpr', at(received))).toEqual({ dueAt: at(endOf(due)) });
  });

  it('extends by two further months: three months from receipt, clamped the same way', () => {
    expect(extendedDeadline('gdpr', at('2026-01-31T10:00:00Z'))).toEqual(at(endOf('2026-04-30')));
    expect(extendedDeadline('gdpr', at('2025-11-30T10:00:00Z'))).toEqual(at(endOf('2026-02-28')));
    expect(extendedDeadline('gdpr', at('2026-01-15T10:00:00Z'))).toEqual(at(endOf('2026-04-15')));
  });

  it('is never less than 28 nor more than 31 days away, and never before the same date next month', () => {
    fc.assert(
      fc.property(fc.date({ min: new Date('2000-01-01'), max: new Date('2100-01-01'), noInvalidDate: true }), (received) => {
        const due = addCalendarMonths(received, 1);
        const days = (due.getTime() - received.getTime()) / 86_400_000;
        expect(days).toBeGreaterThan(27);
        expect(days).toBeLessThan(32);
        expect(due.getUTCHours()).toBe(23);
        expect(due.getUTCDate()).toBeLessThanOrEqual(received.getUTCDate());
        expect((due.getUTCMonth() - received.getUTCMonth() + 12) % 12).toBe(1);
      }),
    );
  });
});

describe('CCPA: acknowledge in 10 business days, respond in 45 calendar days', () => {
  it.each([
    // 2026-01-16 is a Friday: ten weekdays later is Friday 2026-01-30.
    ['2026-01-16T15:00:00Z', '2026-01-30', '2026-03-02'],
    // Saturday and Sunday: counting starts on Monday, so also Friday the 30th.
    ['2026-01-17T15:00:00Z', '2026-01-30', '2026-03-03'],
    ['2026-01-18T15:00:00Z', '2026-01-30', '2026-03-04'],
    // Wednesday → the Wednesday two weeks later.
    ['2026-01-14T08:00:00Z', '2026-01-28', '2026-02-28'],
  ])('received %s → acknowledge by %s, respond by %s', (received, ack, due) => {
    expect(initialDeadlines('ccpa', at(received))).toEqual({ acknowledgementDueAt: at(endOf(ack)), dueAt: at(endOf(due)) });
  });

  it('extends once by 45 more days: 90 from receipt', () => {
    expect(extendedDeadline('ccpa', at('2026-01-16T15:00:00Z'))).toEqual(at(endOf('2026-04-16')));
  });

  it('business days never land on a weekend', () => {
    fc.assert(
      fc.property(fc.date({ min: new Date('2000-01-01'), max: new Date('2100-01-01'), noInvalidDate: true }), fc.integer({ min: 1, max: 30 }), (from, n) => {
        const day = addBusinessDays(from, n).getUTCDay();
        expect(day).not.toBe(0);
        expect(day).not.toBe(6);
      }),
    );
  });
});

describe('other jurisdictions', () => {
  it('30 days, extendable to 60', () => {
    expect(initialDeadlines('other', at('2026-01-31T10:00:00Z'))).toEqual({ dueAt: at(endOf('2026-03-02')) });
    expect(extendedDeadline('other', at('2026-01-31T10:00:00Z'))).toEqual(at(endOf('2026-04-01')));
  });
});

describe('notices', () => {
  const due = at('2026-02-15T23:59:59.999Z');
  it.each([
    ['2026-02-01T00:00:00Z', undefined],
    ['2026-02-08T23:59:59.999Z', 'dueSoon7'],
    ['2026-02-13T23:59:59.998Z', 'dueSoon7'],
    ['2026-02-13T23:59:59.999Z', 'dueSoon2'],
    ['2026-02-15T23:59:59.999Z', 'dueSoon2'],
    ['2026-02-16T00:00:00Z', 'overdue'],
  ])('at %s → %s', (now, expected) => {
    expect(noticeDue(due, at(now))).toBe(expected);
  });
});
