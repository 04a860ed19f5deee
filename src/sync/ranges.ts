import { addDays } from '../lib/dates.ts';

/** One night's values for one unit type (and rate plan), as read at send time. */
export interface NightCell<V> {
  /** Everything that must match for two nights to share a range: unit type, rate plan. */
  group: string;
  date: string;
  values: V;
}

export interface CellRange<V> {
  group: string;
  from: string;
  to: string;
  values: V;
}

/** Orders by UTF-16 code units, as the date and id strings need; localeCompare would follow a locale. */
function compareText(a: string, b: string): number {
  if (a === b) return 0;
  return a < b ? -1 : 1;
}

function sameValues(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/**
 * Bundles nights into inclusive ranges: consecutive dates of one group with
 * equal values become one range. Cells may come in any order. Pure, so it is
 * property-tested: expanding the ranges gives back exactly the cells.
 */
export function bundleRanges<V>(cells: readonly NightCell<V>[]): CellRange<V>[] {
  const sorted = [...cells].sort((a, b) => compareText(a.group, b.group) || compareText(a.date, b.date));
  const ranges: CellRange<V>[] = [];
  for (const cell of sorted) {
    const last = ranges.at(-1);
    if (last && last.group === cell.group && addDays(last.to, 1) === cell.date && sameValues(last.values, cell.values)) {
      last.to = cell.date;
    } else if (!(last && last.group === cell.group && last.to === cell.date)) {
      ranges.push({ group: cell.group, from: cell.date, to: cell.date, values: cell.values });
    }
  }
  return ranges;
}
