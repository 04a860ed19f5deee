import type { FieldError } from '../errors.ts';
import { addDays, daysBetween, isCalendarDate } from '../lib/dates.ts';

/** Longest range one update may cover, in nights, counting both ends. */
export const MAX_RANGE_DAYS = 750;
/** How far ahead a night may be set: three years of days, counting a leap day. */
export const MAX_DAYS_AHEAD = 3 * 365 + 1;

/**
 * Checks an inclusive date range for a write. Writes may start at most one day
 * in the past (yesterday in the park's timezone, for late night changes) and
 * end at most three years ahead.
 */
export function checkWriteRange(from: string, to: string, today: string, prefix: string): FieldError[] {
  const errors: FieldError[] = [];
  if (!isCalendarDate(from)) errors.push({ field: `${prefix}from`, message: `"${from}" is not a calendar date (YYYY-MM-DD)` });
  if (!isCalendarDate(to)) errors.push({ field: `${prefix}to`, message: `"${to}" is not a calendar date (YYYY-MM-DD)` });
  if (errors.length > 0) return errors;
  const length = daysBetween(from, to) + 1;
  if (length < 1) {
    errors.push({ field: `${prefix}to`, message: `must not be before from (${from})` });
  } else if (length > MAX_RANGE_DAYS) {
    errors.push({ field: `${prefix}to`, message: `range covers ${length} days; split it into ranges of at most ${MAX_RANGE_DAYS}` });
  }
  const earliest = addDays(today, -1);
  const latest = addDays(today, MAX_DAYS_AHEAD);
  if (from < earliest) errors.push({ field: `${prefix}from`, message: `must not be before ${earliest} (one day before today in the park's timezone)` });
  if (to > latest) errors.push({ field: `${prefix}to`, message: `must not be after ${latest} (three years ahead)` });
  return errors;
}

/** Checks an inclusive date range for a read: real dates, in order, at most MAX_RANGE_DAYS long. */
export function checkReadRange(from: string, to: string): FieldError[] {
  const errors: FieldError[] = [];
  if (!isCalendarDate(from)) errors.push({ field: 'query:from', message: `"${from}" is not a calendar date (YYYY-MM-DD)` });
  if (!isCalendarDate(to)) errors.push({ field: 'query:to', message: `"${to}" is not a calendar date (YYYY-MM-DD)` });
  if (errors.length > 0) return errors;
  const length = daysBetween(from, to) + 1;
  if (length < 1) errors.push({ field: 'query:to', message: `must not be before from (${from})` });
  else if (length > MAX_RANGE_DAYS) errors.push({ field: 'query:to', message: `range covers ${length} days; ask for at most ${MAX_RANGE_DAYS}` });
  return errors;
}
