import type { Jurisdiction } from './privacy-types.js';

/**
 * Statutory deadlines, computed on UTC calendar dates. A deadline is the end (23:59:59.999 UTC) of its
 * last day, as in Regulation 1182/71 Art. 3: a period in months ends on the day of the last month with
 * the same date as the day it began, or on that month's last day when there is no such date.
 */
export const DAY_MS = 86_400_000;

function utcDate(at: Date): { y: number; m: number; d: number } {
  return { y: at.getUTCFullYear(), m: at.getUTCMonth(), d: at.getUTCDate() };
}

function endOfDay(y: number, m: number, d: number): Date {
  return new Date(Date.UTC(y, m, d, 23, 59, 59, 999));
}

function daysInMonth(y: number, m: number): number {
  return new Date(Date.UTC(y, m + 1, 0)).getUTCDate();
}

/** End of the day `months` calendar months after `from`, clamped to the month's last day. */
export function addCalendarMonths(from: Date, months: number): Date {
  const { y, m, d } = utcDate(from);
  const target = new Date(Date.UTC(y, m + months, 1));
  const ty = target.getUTCFullYear();
  const tm = target.getUTCMonth();
  return endOfDay(ty, tm, Math.min(d, daysInMonth(ty, tm)));
}

/** End of the day `days` calendar days after `from`. */
export function addCalendarDays(from: Date, days: number): Date {
  const { y, m, d } = utcDate(from);
  return endOfDay(y, m, d + days);
}

/** End of the `days`-th business day (Monday–Friday; public holidays are not modelled) after `from`. */
export function addBusinessDays(from: Date, days: number): Date {
  const { y, m, d } = utcDate(from);
  let cursor = Date.UTC(y, m, d);
  let counted = 0;
  while (counted < days) {
    cursor += DAY_MS;
    const weekday = new Date(cursor).getUTCDay();
    if (weekday !== 0 && weekday !== 6) counted++;
  }
  const day = new Date(cursor);
  return endOfDay(day.getUTCFullYear(), day.getUTCMonth(), day.getUTCDate());
}

export interface Deadlines {
  dueAt: Date;
  acknowledgementDueAt?: Date;
}

/**
 * GDPR Art. 12(3): one month. CCPA (Cal. Civ. Code 1798.130, regs. 7021): acknowledge within 10 business
 * days, respond within 45 calendar days. Other: 30 calendar days.
 */
export function initialDeadlines(jurisdiction: Jurisdiction, receivedAt: Date): Deadlines {
  switch (jurisdiction) {
    case 'gdpr':
      return { dueAt: addCalendarMonths(receivedAt, 1) };
    case 'ccpa':
      return { dueAt: addCalendarDays(receivedAt, 45), acknowledgementDueAt: addBusinessDays(receivedAt, 10) };
    case 'other':
      return { dueAt: addCalendarDays(receivedAt, 30) };
  }
}

/**
 * The one allowed extension. GDPR: by two further months, i.e. three months from receipt. CCPA: by 45
 * more days, 90 from receipt. Other: by 30 more days.
 */
export function extendedDeadline(jurisdiction: Jurisdiction, receivedAt: Date): Date {
  switch (jurisdiction) {
    case 'gdpr':
      return addCalendarMonths(receivedAt, 3);
    case 'ccpa':
      return addCalendarDays(receivedAt, 90);
    case 'other':
      return addCalendarDays(receivedAt, 60);
  }
}

/** Which notice a request due at `dueAt` has earned at `now`, the most urgent first. */
export function noticeDue(dueAt: Date, now: Date): 'overdue' | 'dueSoon2' | 'dueSoon7' | undefined {
  const left = dueAt.getTime() - now.getTime();
  if (left < 0) return 'overdue';
  if (left <= 2 * DAY_MS) return 'dueSoon2';
  if (left <= 7 * DAY_MS) return 'dueSoon7';
  return undefined;
}
