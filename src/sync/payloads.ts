import { sql } from 'kysely';
import type { Executor } from '../audit/audit.ts';
import { formatAmount } from '../inventory/money.ts';
import { bundleRanges, type CellRange } from './ranges.ts';

/** A dirty night as the planner read it. */
export interface DirtyCell {
  unitTypeId: string;
  date: string;
  seq: number;
}

interface AvailabilityValues {
  available: number;
  stopSell: boolean;
  minStay: number | null;
  minStayThrough: number | null;
  maxStay: number | null;
  closedToArrival: boolean;
  closedToDeparture: boolean;
}

/** The payload of a delivery and the ranges it covers, so the planner can trim it to the adapter's limits. */
export interface BuiltPayload {
  ranges: Array<CellRange<unknown>>;
  render(ranges: Array<CellRange<unknown>>): Record<string, unknown>;
}

/**
 * Reads the current availability of the dirty nights and bundles equal
 * consecutive nights into ranges. A night with no stored row has nothing on
 * sale and is sent as 0 available; an allotment below booked is sent as 0 too.
 */
export async function buildAvailabilityPayload(db: Executor, parkId: string, cells: readonly DirtyCell[]): Promise<BuiltPayload> {
  const rows = await sql<{
    unit_type_id: string;
    date: string;
    available: number | null;
    stop_sell: boolean | null;
    min_stay_arrival: number | null;
    min_stay_through: number | null;
    max_stay: number | null;
    closed_to_arrival: boolean | null;
    closed_to_departure: boolean | null;
  }>`
    select wanted.unit_type_id, wanted.date::text as date, a.available, a.stop_sell, a.min_stay_arrival,
      a.min_stay_through, a.max_stay, a.closed_to_arrival, a.closed_to_departure
    from unnest(${cells.map((cell) => cell.unitTypeId)}::text[], ${cells.map((cell) => cell.date)}::date[]) as wanted(unit_type_id, date)
    left join availability a on a.park_id = ${parkId} and a.unit_type_id = wanted.unit_type_id and a.date = wanted.date
  `.execute(db);
  const nightCells = rows.rows.map((row) => ({
    group: row.unit_type_id,
    date: row.date,
    values: {
      available: row.available ?? 0,
      stopSell: row.stop_sell ?? false,
      minStay: row.min_stay_arrival,
      minStayThrough: row.min_stay_through,
      maxStay: row.max_stay,
      closedToArrival: row.closed_to_arrival ?? false,
      closedToDeparture: row.closed_to_departure ?? false,
    } satisfies AvailabilityValues,
  }));
  return {
    ranges: bundleRanges(nightCells),
    render: (ranges) => ({
      parkId,
      updates: ranges.map((range) => ({ unitTypeId: range.group, from: range.from, to: range.to, ...(range.values as AvailabilityValues) })),
    }),
  };
}

/** Reads the current rates of the dirty nights, every rate plan, and bundles them into ranges. */
export async function buildRatesPayload(
  db: Executor,
  park: { parkId: string; currency: string },
  cells: readonly DirtyCell[],
): Promise<BuiltPayload> {
  const rows = await sql<{ unit_type_id: string; rate_plan_id: string; date: string; amount_minor: number }>`
    select r.unit_type_id, r.rate_plan_id, r.date::text as date, r.amount_minor
    from unnest(${cells.map((cell) => cell.unitTypeId)}::text[], ${cells.map((cell) => cell.date)}::date[]) as wanted(unit_type_id, date)
    join rates r on r.park_id = ${park.parkId} and r.unit_type_id = wanted.unit_type_id and r.date = wanted.date
  `.execute(db);
  const nightCells = rows.rows.map((row) => ({
    group: `${row.unit_type_id}\u0000${row.rate_plan_id}`,
    date: row.date,
    values: { amount: formatAmount(row.amount_minor, park.currency) },
  }));
  return {
    ranges: bundleRanges(nightCells),
    render: (ranges) => ({
      parkId: park.parkId,
      currency: park.currency,
      updates: ranges.map((range) => {
        const [unitTypeId, ratePlanId] = range.group.split('\u0000');
        return { unitTypeId, ratePlanId, from: range.from, to: range.to, ...(range.values as { amount: string }) };
      }),
    }),
  };
}
