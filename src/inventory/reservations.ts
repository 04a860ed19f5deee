import { sql } from 'kysely';
import type { Executor } from '../audit/audit.ts';
import { AppError, validationError, type FieldError } from '../errors.ts';
import type { Insertable } from 'kysely';
import type { ReservationRow, ReservationsTable } from '../db/schema.ts';
import { RetryTransaction } from '../db/transaction.ts';
import { addDays, daysBetween, isCalendarDate, nightsOfStay } from '../lib/dates.ts';
import { markDirty } from '../sync/dirty.ts';
import { formatAmount, parseAmount } from './money.ts';
import { MAX_DAYS_AHEAD } from './ranges.ts';

/** Maximum stay parksync accepts, in nights. */
export const MAX_STAY_NIGHTS = 365;

/** A reservation as a channel or the park sends it: always the full current state. */
export interface ReservationInput {
  reservationId: string;
  status: 'confirmed' | 'cancelled';
  unitTypeId: string;
  arrival: string;
  departure: string;
  units?: number;
  guests?: number;
  guest?: Record<string, unknown>;
  total?: { amount: string; currency: string };
}

export type ReservationOutcome = 'created' | 'modified' | 'cancelled' | 'unchanged';

export interface ReservationResult {
  outcome: ReservationOutcome;
  reservation: ReservationRow;
}

/** A night the claim could not take, and why. */
export interface FailedNight {
  date: string;
  unitTypeId: string;
  requested: number;
  available: number;
  stopSell: boolean;
}

export function overbookedError(failed: FailedNight[]): AppError {
  const dates = failed.map((night) => night.date).join(', ');
  return new AppError('overbooked', `Not enough units of the unit type on: ${dates}. Nothing was claimed.`, {
    extensions: { failedNights: failed },
  });
}

export function checkReservation(input: ReservationInput, unitTypeIds: ReadonlySet<string>, parkCurrency: string, today: string): number | null {
  const errors: FieldError[] = [];
  if (!unitTypeIds.has(input.unitTypeId)) {
    errors.push({ field: 'unitTypeId', message: `unit type "${input.unitTypeId}" does not exist in this park` });
  }
  if (!isCalendarDate(input.arrival)) errors.push({ field: 'arrival', message: `"${input.arrival}" is not a calendar date (YYYY-MM-DD)` });
  if (!isCalendarDate(input.departure)) errors.push({ field: 'departure', message: `"${input.departure}" is not a calendar date (YYYY-MM-DD)` });
  if (errors.length === 0) {
    const nights = daysBetween(input.arrival, input.departure);
    if (nights < 1) errors.push({ field: 'departure', message: `must be after arrival (${input.arrival}); departure is the check-out day` });
    else if (nights > MAX_STAY_NIGHTS) errors.push({ field: 'departure', message: `stay is ${nights} nights; the maximum is ${MAX_STAY_NIGHTS}` });
    if (input.status === 'confirmed' && input.departure <= addDays(today, -1)) {
      errors.push({ field: 'departure', message: `a confirmed stay must not have ended before ${addDays(today, -1)}` });
    }
    if (input.arrival > addDays(today, MAX_DAYS_AHEAD)) {
      errors.push({ field: 'arrival', message: `must not be more than three years ahead` });
    }
  }
  let totalMinor: number | null = null;
  if (input.total) {
    if (input.total.currency !== parkCurrency) {
      errors.push({ field: 'total.currency', message: `must be the park's currency ${parkCurrency}` });
    } else {
      const amount = parseAmount(input.total.amount, parkCurrency);
      if (amount.ok) totalMinor = amount.minor;
      else errors.push({ field: 'total.amount', message: amount.message });
    }
  }
  if (errors.length > 0) throw validationError(errors);
  return totalMinor;
}

/** Units held per (unit type, night): the key is "<unitTypeId>|<date>". */
type Holdings = Map<string, number>;

function holdingsOf(status: string, unitTypeId: string, arrival: string, departure: string, units: number): Holdings {
  const holdings: Holdings = new Map();
  if (status !== 'confirmed') return holdings;
  for (const night of nightsOfStay(arrival, departure)) holdings.set(`${unitTypeId}|${night}`, units);
  return holdings;
}

/** Orders holding keys by code unit, the same order on every process, so rows are always locked in one order. */
function compareKeys(a: string, b: string): number {
  if (a === b) return 0;
  return a < b ? -1 : 1;
}

function splitKey(key: string): { unitTypeId: string; date: string } {
  const [unitTypeId = '', date = ''] = key.split('|');
  return { unitTypeId, date };
}

/**
 * Moves `booked` from the old holdings to the new ones. Releases run first and
 * claims second, so a modification never conflicts with the nights it already
 * holds. Every row involved is locked in one fixed order first, so concurrent
 * reservations cannot deadlock. Raises `overbooked` naming each night that
 * lacks a unit or is stop-sell; the caller's transaction then rolls back.
 */
async function moveHoldings(
  db: Executor,
  parkId: string,
  before: Holdings,
  after: Holdings,
  sourceChannel: string | null,
): Promise<void> {
  const deltas = new Map<string, number>();
  for (const [key, units] of before) deltas.set(key, -units);
  for (const [key, units] of after) deltas.set(key, (deltas.get(key) ?? 0) + units);
  const changed = [...deltas].filter(([, delta]) => delta !== 0).sort(([a], [b]) => compareKeys(a, b));
  if (changed.length === 0) return;

  const unitTypeIds = changed.map(([key]) => splitKey(key).unitTypeId);
  const dates = changed.map(([key]) => splitKey(key).date);
  const rows = await sql<{ unit_type_id: string; date: string; allotment: number; booked: number; stop_sell: boolean }>`
    select a.unit_type_id, a.date, a.allotment, a.booked, a.stop_sell
    from availability a
    join unnest(${unitTypeIds}::text[], ${dates}::date[]) as wanted(unit_type_id, date)
      on a.unit_type_id = wanted.unit_type_id and a.date = wanted.date
    where a.park_id = ${parkId}
    order by a.unit_type_id, a.date
    for update of a
  `.execute(db);
  const current = new Map(rows.rows.map((row) => [`${row.unit_type_id}|${row.date}`, row]));

  const failed: FailedNight[] = [];
  for (const [key, delta] of changed) {
    if (delta <= 0) continue;
    const row = current.get(key);
    const available = row ? Math.max(0, row.allotment - row.booked) : 0;
    if (!row || row.stop_sell || available < delta) {
      failed.push({ ...splitKey(key), requested: delta, available, stopSell: row?.stop_sell ?? false });
    }
  }
  if (failed.length > 0) throw overbookedError(failed);

  const releases = changed.filter(([, delta]) => delta < 0);
  const claims = changed.filter(([, delta]) => delta > 0);
  for (const group of [releases, claims]) {
    if (group.length === 0) continue;
    // The rows are locked, so the checks above still hold; the trigger guards booked <= allotment for claims regardless.
    await sql`
      update availability a
      set booked = greatest(0, a.booked + change.delta)
      from unnest(${group.map(([key]) => splitKey(key).unitTypeId)}::text[],
                  ${group.map(([key]) => splitKey(key).date)}::date[],
                  ${group.map(([, delta]) => delta)}::integer[]) as change(unit_type_id, date, delta)
      where a.park_id = ${parkId} and a.unit_type_id = change.unit_type_id and a.date = change.date
    `.execute(db);
  }

  const byUnitType = new Map<string, string[]>();
  for (const [key] of changed) {
    const { unitTypeId, date } = splitKey(key);
    byUnitType.set(unitTypeId, [...(byUnitType.get(unitTypeId) ?? []), date]);
  }
  for (const [unitTypeId, nights] of byUnitType) {
    await markDirty(db, { parkId, kind: 'availability', unitTypeId, dates: nights, sourceChannel });
  }
}

function sameState(row: ReservationRow, input: ReservationInput, totalMinor: number | null): boolean {
  return (
    row.status === input.status &&
    row.unit_type_id === input.unitTypeId &&
    row.arrival === input.arrival &&
    row.departure === input.departure &&
    row.units === (input.units ?? 1) &&
    row.guests === (input.guests ?? null) &&
    row.total_minor === totalMinor
  );
}

/**
 * Stores a reservation's full state and moves the nights it holds. A new
 * confirmed reservation claims a unit per night, a change of dates, unit type
 * or units releases the old nights and claims the new ones, and a cancellation
 * releases; cancelling twice releases once. A cancellation for a reservation
 * not seen before is stored as cancelled. The caller owns the transaction.
 */
export async function applyReservation(
  db: Executor,
  parkId: string,
  channel: string,
  input: ReservationInput,
  totalMinor: number | null,
  options: { sourceChannel: string | null; currency: string; now: Date },
): Promise<ReservationResult> {
  const existing = await db
    .selectFrom('reservations')
    .selectAll()
    .where('channel', '=', channel)
    .where('reservation_id', '=', input.reservationId)
    .forUpdate()
    .executeTakeFirst();
  if (existing && existing.park_id !== parkId) {
    throw validationError([
      { field: 'reservationId', message: `reservation "${input.reservationId}" of ${channel} belongs to another park` },
    ]);
  }
  const unchanged = existing !== undefined && sameState(existing, input, totalMinor);

  const units = input.units ?? 1;
  const before = existing
    ? holdingsOf(existing.status, existing.unit_type_id, existing.arrival, existing.departure, existing.units)
    : new Map<string, number>();
  const after = holdingsOf(input.status, input.unitTypeId, input.arrival, input.departure, units);
  await moveHoldings(db, parkId, before, after, options.sourceChannel);

  const columns = {
    unit_type_id: input.unitTypeId,
    arrival: input.arrival,
    departure: input.departure,
    units,
    guests: input.guests ?? null,
    guest: input.guest ? JSON.stringify(input.guest) : null,
    status: input.status,
    total_minor: totalMinor,
    total_currency: totalMinor === null ? null : options.currency,
    updated_at: options.now,
  };
  const reservation = existing
    ? await db
        .updateTable('reservations')
        .set(columns)
        .where('reservation_key', '=', existing.reservation_key)
        .returningAll()
        .executeTakeFirstOrThrow()
    : await insertReservation(db, { park_id: parkId, channel, reservation_id: input.reservationId, ...columns });

  await db.deleteFrom('reservation_nights').where('reservation_key', '=', reservation.reservation_key).execute();
  if (after.size > 0) {
    await db
      .insertInto('reservation_nights')
      .values(
        [...after].map(([key, held]) => {
          const { unitTypeId, date } = splitKey(key);
          return { reservation_key: reservation.reservation_key, park_id: parkId, unit_type_id: unitTypeId, date, units: held };
        }),
      )
      .execute();
  }

  const outcome: ReservationOutcome = unchanged
    ? 'unchanged'
    : !existing
    ? input.status === 'cancelled'
      ? 'cancelled'
      : 'created'
    : input.status === 'cancelled'
      ? 'cancelled'
      : 'modified';
  return { outcome, reservation };
}

/**
 * Inserts a new reservation. When a concurrent request inserted the same
 * (channel, reservationId) first, the transaction is retried so it reads that row.
 */
async function insertReservation(db: Executor, values: Insertable<ReservationsTable>): Promise<ReservationRow> {
  const row = await db
    .insertInto('reservations')
    .values(values)
    .onConflict((conflict) => conflict.columns(['channel', 'reservation_id']).doNothing())
    .returningAll()
    .executeTakeFirst();
  if (!row) throw new RetryTransaction(`reservation ${values.reservation_id} was created concurrently`);
  return row;
}

/** Maps a reservation row to the API view. Guest details are shown only here, where the reservation needs them. */
export function toReservationView(row: ReservationRow) {
  return {
    parkId: row.park_id,
    channel: row.channel,
    reservationId: row.reservation_id,
    status: row.status,
    unitTypeId: row.unit_type_id,
    arrival: row.arrival,
    departure: row.departure,
    nights: daysBetween(row.arrival, row.departure),
    units: row.units,
    guests: row.guests,
    guest: row.guest ?? null,
    total:
      row.total_minor === null || row.total_currency === null
        ? null
        : { amount: formatAmount(row.total_minor, row.total_currency), currency: row.total_currency, amountMinor: row.total_minor },
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  };
}
