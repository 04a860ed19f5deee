import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { todayIn } from '../src/lib/dates.ts';

/** Zones with offsets that are not whole hours, or that change for daylight saving. */
const ZONES = ['Pacific/Chatham', 'America/St_Johns', 'Asia/Kathmandu', 'Europe/Amsterdam', 'Pacific/Kiritimati', 'UTC'];

function expectedToday(timezone: string, now: Date): string {
  return new Intl.DateTimeFormat('en-CA', { timeZone: timezone, year: 'numeric', month: '2-digit', day: '2-digit' }).format(now);
}

describe('todayIn', () => {
  it('turns at local midnight exactly', () => {
    // 2026-12-05 00:00 in Kathmandu (UTC+05:45) is 2026-12-04 18:15 UTC.
    expect(todayIn('Asia/Kathmandu', new Date('2026-12-04T18:14:59.999Z'))).toBe('2026-12-04');
    expect(todayIn('Asia/Kathmandu', new Date('2026-12-04T18:15:00.000Z'))).toBe('2026-12-05');
    expect(todayIn('Asia/Kathmandu', new Date('2026-12-04T18:14:59.000Z'))).toBe('2026-12-04');
  });

  it('keeps zones apart within one second', () => {
    // At 18:15:00.5 UTC it is already the next day in Kathmandu and Chatham, not yet in Amsterdam or UTC.
    const second = Date.UTC(2026, 11, 4, 18, 15, 0);
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.constantFrom(...ZONES), fc.integer({ min: 0, max: 999 })), { minLength: 2, maxLength: 30 }), (calls) => {
        for (const [zone, milliseconds] of calls) {
          const now = new Date(second + milliseconds);
          expect(todayIn(zone, now)).toBe(expectedToday(zone, now));
        }
      }),
    );
  });

  it('agrees with a fresh formatter near midnights', () => {
    // Instants within a few seconds of a quarter hour, where some zone's midnight falls.
    const instant = fc
      .record({ quarter: fc.integer({ min: 0, max: 4 * 24 * 400 }), offsetMs: fc.integer({ min: -3_000, max: 3_000 }) })
      .map(({ quarter, offsetMs }) => new Date(Date.UTC(2026, 0, 1) + quarter * 900_000 + offsetMs));
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.constantFrom(...ZONES), instant), { minLength: 1, maxLength: 40 }), (calls) => {
        for (const [zone, now] of calls) expect(todayIn(zone, now)).toBe(expectedToday(zone, now));
      }),
    );
  });
});
