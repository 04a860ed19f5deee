import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { addDays, daysBetween } from '../src/lib/dates.ts';
import { backoffMs, BACKOFF_BASE_MS, BACKOFF_CAP_MS, parseRetryAfter, RETRY_AFTER_CAP_MS } from '../src/sync/backoff.ts';
import { classifyResponse } from '../src/channels/adapters/response.ts';
import { bundleRanges, type NightCell } from '../src/sync/ranges.ts';

const NOW = new Date('2026-12-04T12:00:00Z');

describe('bundleRanges', () => {
  const cellArbitrary = fc.record({
    group: fc.constantFrom('cabin', 'pitch', 'tent'),
    offset: fc.integer({ min: 0, max: 40 }),
    value: fc.integer({ min: 0, max: 2 }),
  });

  it('expands back to exactly the cells it was given', () => {
    fc.assert(
      fc.property(fc.uniqueArray(cellArbitrary, { selector: (cell) => `${cell.group}|${cell.offset}` }), (raw) => {
        const cells: NightCell<{ value: number }>[] = raw.map((cell) => ({
          group: cell.group,
          date: addDays('2027-01-01', cell.offset),
          values: { value: cell.value },
        }));
        const expanded = bundleRanges(cells).flatMap((range) =>
          Array.from({ length: daysBetween(range.from, range.to) + 1 }, (_, index) => `${range.group}|${addDays(range.from, index)}|${range.values.value}`),
        );
        const expected = cells.map((cell) => `${cell.group}|${cell.date}|${cell.values.value}`);
        expect(expanded.sort()).toEqual(expected.sort());
      }),
    );
  });

  it('never leaves two adjacent ranges that could merge', () => {
    fc.assert(
      fc.property(fc.uniqueArray(cellArbitrary, { selector: (cell) => `${cell.group}|${cell.offset}` }), (raw) => {
        const ranges = bundleRanges(raw.map((cell) => ({ group: cell.group, date: addDays('2027-01-01', cell.offset), values: cell.value })));
        for (let index = 1; index < ranges.length; index += 1) {
          const previous = ranges[index - 1];
          const current = ranges[index];
          const mergeable = previous?.group === current?.group && addDays(previous?.to ?? '', 1) === current?.from && previous?.values === current?.values;
          expect(mergeable).toBe(false);
        }
      }),
    );
  });

  it('bundles 500 equal nights into one range', () => {
    const cells = Array.from({ length: 500 }, (_, index) => ({ group: 'cabin', date: addDays('2027-01-01', index), values: { available: 3 } }));
    expect(bundleRanges(cells)).toEqual([{ group: 'cabin', from: '2027-01-01', to: addDays('2027-01-01', 499), values: { available: 3 } }]);
  });
});

describe('backoffMs', () => {
  it('stays within the doubling ceiling and the cap', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 40 }), fc.double({ min: 0, max: 0.999999, noNaN: true }), (attempt, random) => {
        const wait = backoffMs(attempt, () => random);
        expect(wait).toBeGreaterThanOrEqual(100);
        expect(wait).toBeLessThanOrEqual(Math.max(100, Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** (attempt - 1))));
      }),
    );
  });
});

describe('parseRetryAfter', () => {
  it.each([
    ['delta seconds', '30', 30_000],
    ['an HTTP date', 'Fri, 04 Dec 2026 12:02:00 GMT', 120_000],
    ['a very long wait, capped', '999999', RETRY_AFTER_CAP_MS],
  ])('reads %s', (_name, header, expected) => {
    expect(parseRetryAfter(header, NOW)).toBe(expected);
  });

  it.each([
    ['missing', undefined],
    ['zero', '0'],
    ['negative', '-5'],
    ['fractional', '1.5'],
    ['junk', 'soon'],
    ['a date in the past', 'Fri, 04 Dec 2026 11:00:00 GMT'],
  ])('falls back to backoff when %s', (_name, header) => {
    expect(parseRetryAfter(header, NOW)).toBeUndefined();
  });
});

describe('classifyResponse', () => {
  it.each([
    [200, 'delivered'],
    [204, 'delivered'],
    [408, 'retry'],
    [429, 'retry'],
    [500, 'retry'],
    [503, 'retry'],
    [400, 'permanent'],
    [404, 'permanent'],
    [410, 'permanent'],
    [422, 'permanent'],
  ])('treats %i as %s', (status, result) => {
    expect(classifyResponse(status, undefined, NOW, '').result).toBe(result);
  });

  it('keeps the Retry-After wait of a 429', () => {
    const outcome = classifyResponse(429, '7', NOW, 'slow down');
    expect(outcome).toMatchObject({ result: 'retry', retryAfterMs: 7000 });
  });
});
