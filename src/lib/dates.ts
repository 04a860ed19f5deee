/**
 * Calendar dates (YYYY-MM-DD) as the park's local nights. They are plain
 * strings everywhere and are computed through UTC so no host timezone leaks in.
 */
const DATE_PATTERN = /^(\d{4})-(\d{2})-(\d{2})$/;
const DAY_MS = 86_400_000;

/** True when text is a real calendar date: 2026-02-29 is not. */
export function isCalendarDate(text: string): boolean {
  const match = DATE_PATTERN.exec(text);
  if (!match) return false;
  const [, year, month, day] = match.map(Number) as [number, number, number, number];
  const date = new Date(Date.UTC(year, month - 1, day));
  return date.getUTCFullYear() === year && date.getUTCMonth() === month - 1 && date.getUTCDate() === day;
}

function toUtcMs(date: string): number {
  return Date.parse(`${date}T00:00:00Z`);
}

export function addDays(date: string, days: number): string {
  return new Date(toUtcMs(date) + days * DAY_MS).toISOString().slice(0, 10);
}

/** Number of days from `from` to `to`; negative when `to` is earlier. */
export function daysBetween(from: string, to: string): number {
  return Math.round((toUtcMs(to) - toUtcMs(from)) / DAY_MS);
}

/** The nights of a stay: arrival up to, not including, departure. */
export function nightsOfStay(arrival: string, departure: string): string[] {
  const count = daysBetween(arrival, departure);
  return Array.from({ length: Math.max(0, count) }, (_, index) => addDays(arrival, index));
}

/**
 * Formatters by timezone, each with the last date it gave. Building an
 * Intl.DateTimeFormat costs far more than using one, and using one costs
 * more than a lookup; every webhook needs its park's today. Every UTC offset
 * in the timezone database is a whole number of seconds, so a zone's date
 * cannot change within one UTC second, and the last formatted date is
 * reused for the rest of that second.
 */
const dayFormatters = new Map<string, { formatter: Intl.DateTimeFormat; second: number; date: string }>();

/** Today's calendar date in an IANA timezone. */
export function todayIn(timezone: string, now: Date): string {
  const second = Math.floor(now.getTime() / 1000);
  let entry = dayFormatters.get(timezone);
  if (!entry) {
    const formatter = new Intl.DateTimeFormat('en-CA', { timeZone: timezone, year: 'numeric', month: '2-digit', day: '2-digit' });
    entry = { formatter, second: Number.NaN, date: '' };
    dayFormatters.set(timezone, entry);
  }
  if (entry.second !== second) {
    entry.date = entry.formatter.format(now);
    entry.second = second;
  }
  return entry.date;
}

export function isValidTimezone(timezone: string): boolean {
  if (timezone.length === 0 || timezone.length > 64) return false;
  try {
    new Intl.DateTimeFormat('en', { timeZone: timezone });
  } catch {
    return false;
  }
  // Intl also accepts offsets such as "+01:00"; a park needs a named zone for daylight saving.
  return /^[A-Za-z_]+(\/[A-Za-z0-9_+-]+)*$/.test(timezone);
}
