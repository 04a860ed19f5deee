import { sql, type SqlBool, type RawBuilder } from 'kysely';
import type { Executor } from '../audit/audit.ts';
import type { ReservationRow } from '../db/schema.ts';
import { readAvailability, toAvailabilityItem, type AvailabilityColumns, type AvailabilityItem } from '../inventory/availability.ts';
import { toRateItem, type RateItem } from '../inventory/rates.ts';
import type { AvailabilityKey, ChangePosition, RateKey, ReservationKey } from './cursor.ts';

/**
 * The SQL behind the channel pull endpoints: range reads paged by sort key,
 * and the change feed paged by (change_txid, change_seq).
 *
 * The change feed is safe under concurrent writers because it never reads
 * past the horizon H = pg_snapshot_xmin(pg_current_snapshot()): every
 * transaction with an id below H has finished, so no row stamped with such an
 * id can still appear. A transaction running during the read has an id of at
 * least H, and every transaction that starts later gets a higher id still.
 * Their rows therefore sort after any position this read hands out, so they
 * come on a later page.
 *
 * NOTE: H is cluster-wide. A transaction left open in any database of the
 * server keeps every feed at its id until it ends; pages then come back empty
 * and nothing is lost.
 */

/** A page of the change feed: the items and the position of the last one (null when the page is empty). */
export interface FeedPage<T> {
  items: T[];
  last: ChangePosition | null;
}

/** Reads the change-feed horizon H as a decimal string. */
export async function readHorizon(db: Executor): Promise<string> {
  const result = await sql<{ horizon: string }>`select pg_snapshot_xmin(pg_current_snapshot())::text as horizon`.execute(db);
  const horizon = result.rows[0]?.horizon;
  if (horizon === undefined) throw new Error('pg_current_snapshot() returned no row');
  return horizon;
}

/**
 * Rows of `alias` after `position` and below the horizon. The horizon is a
 * scalar subquery so it is computed once, from the same snapshot that the
 * statement reads the rows with.
 */
function afterPosition(alias: string, position: ChangePosition): RawBuilder<SqlBool> {
  const txid = sql.ref(`${alias}.change_txid`);
  const seq = sql.ref(`${alias}.change_seq`);
  return sql<SqlBool>`(${txid}, ${seq}) > (${position.txid}::xid8, ${position.seq}::bigint)
    and ${txid} < (select pg_snapshot_xmin(pg_current_snapshot()))`;
}

function lastPosition(rows: ReadonlyArray<{ change_txid: string; change_seq: number }>): ChangePosition | null {
  const last = rows.at(-1);
  return last ? { txid: last.change_txid, seq: last.change_seq } : null;
}

export interface RangeRead<K> {
  from: string;
  to: string;
  /** Sort key of the last item already returned; null for the first page. */
  after: K | null;
  /** Rows to return at most. One more is read to tell whether the range goes on. */
  limit: number;
}

/** A page of a range read; `more` is true when items beyond this page exist. */
export interface RangePage<T> {
  items: T[];
  more: boolean;
}

function toRangePage<T>(rows: T[], limit: number): RangePage<T> {
  return { items: rows.slice(0, limit), more: rows.length > limit };
}

/**
 * Reads availability one item per unit type and night, in (unitTypeId, date)
 * order. A night without a stored row has nothing on sale: allotment 0.
 */
export async function readAvailabilityRange(db: Executor, parkId: string, read: RangeRead<AvailabilityKey>): Promise<RangePage<AvailabilityItem>> {
  const items = await readAvailability(db, parkId, { from: read.from, to: read.to, after: read.after, limit: read.limit + 1 });
  return toRangePage(items, read.limit);
}

/** Reads the stored rates in the range, in (unitTypeId, ratePlanId, date) order. */
export async function readRateRange(
  db: Executor,
  park: { park_id: string; currency: string },
  read: RangeRead<RateKey>,
): Promise<RangePage<RateItem>> {
  let query = db
    .selectFrom('rates as r')
    .select(['r.unit_type_id', 'r.rate_plan_id', 'r.date', 'r.amount_minor'])
    .where('r.park_id', '=', park.park_id)
    .where('r.date', '>=', read.from)
    .where('r.date', '<=', read.to);
  if (read.after) {
    const { unitTypeId, ratePlanId, date } = read.after;
    query = query.where(sql<SqlBool>`(r.unit_type_id, r.rate_plan_id, r.date) > (${unitTypeId}, ${ratePlanId}, ${date}::date)`);
  }
  const rows = await query.orderBy('r.unit_type_id').orderBy('r.rate_plan_id').orderBy('r.date').limit(read.limit + 1).execute();
  return toRangePage(
    rows.map((row) => toRateItem(row, park.currency)),
    read.limit,
  );
}

/**
 * Reads the reservations whose stay has a night in the range, cancelled ones
 * included, in (arrival, reservation key) order.
 */
export async function readReservationRange(db: Executor, parkId: string, read: RangeRead<ReservationKey>): Promise<RangePage<ReservationRow>> {
  let query = db
    .selectFrom('reservations as r')
    .selectAll('r')
    .where('r.park_id', '=', parkId)
    .where('r.arrival', '<=', read.to)
    .where('r.departure', '>', read.from);
  if (read.after) {
    query = query.where(sql<SqlBool>`(r.arrival, r.reservation_key) > (${read.after.arrival}::date, ${read.after.reservationKey}::bigint)`);
  }
  const rows = await query.orderBy('r.arrival').orderBy('r.reservation_key').limit(read.limit + 1).execute();
  return toRangePage(rows, read.limit);
}

/** Reads availability rows written after `position`, in feed order. */
export async function readAvailabilityChanges(
  db: Executor,
  parkId: string,
  position: ChangePosition,
  limit: number,
): Promise<FeedPage<AvailabilityItem>> {
  const result = await sql<AvailabilityColumns & { change_txid: string; change_seq: number }>`
    select a.unit_type_id, a.date, a.allotment, a.booked, a.available, a.stop_sell, a.min_stay_arrival,
      a.min_stay_through, a.max_stay, a.closed_to_arrival, a.closed_to_departure,
      a.change_txid::text as change_txid, a.change_seq
    from availability a
    where a.park_id = ${parkId} and ${afterPosition('a', position)}
    order by a.change_txid, a.change_seq
    limit ${limit}
  `.execute(db);
  return { items: result.rows.map(toAvailabilityItem), last: lastPosition(result.rows) };
}

/** Reads rate rows written after `position`, in feed order. */
export async function readRateChanges(
  db: Executor,
  park: { park_id: string; currency: string },
  position: ChangePosition,
  limit: number,
): Promise<FeedPage<RateItem>> {
  const rows = await db
    .selectFrom('rates as r')
    .select(['r.unit_type_id', 'r.rate_plan_id', 'r.date', 'r.amount_minor', 'r.change_seq'])
    .select(sql<string>`r.change_txid::text`.as('change_txid'))
    .where('r.park_id', '=', park.park_id)
    .where(afterPosition('r', position))
    .orderBy('r.change_txid')
    .orderBy('r.change_seq')
    .limit(limit)
    .execute();
  return { items: rows.map((row) => toRateItem(row, park.currency)), last: lastPosition(rows) };
}

/** Reads reservations written after `position`, cancellations included, in feed order. */
export async function readReservationChanges(
  db: Executor,
  parkId: string,
  position: ChangePosition,
  limit: number,
): Promise<FeedPage<ReservationRow>> {
  const rows = await db
    .selectFrom('reservations as r')
    .selectAll('r')
    .where('r.park_id', '=', parkId)
    .where(afterPosition('r', position))
    .orderBy('r.change_txid')
    .orderBy('r.change_seq')
    .limit(limit)
    .execute();
  return { items: rows, last: lastPosition(rows) };
}
