import { sql, type RawBuilder } from 'kysely';
import type { Executor } from '../audit/audit.ts';
import { validationError, type FieldError } from '../errors.ts';
import { markDirtyForConnectionStatement, markDirtyStatement } from '../sync/dirty.ts';
import { checkWriteRange } from './ranges.ts';

/**
 * One availability update over an inclusive date range. Fields left out keep
 * their stored value; a restriction set to null is cleared. `minStay` is the
 * minimum stay on arrival: a stay arriving that night must be at least that
 * long. `minStayThrough` applies to every stay that includes the night.
 */
export interface AvailabilityUpdate {
  unitTypeId: string;
  from: string;
  to: string;
  allotment?: number;
  stopSell?: boolean;
  minStay?: number | null;
  minStayArrival?: number | null;
  minStayThrough?: number | null;
  maxStay?: number | null;
  closedToArrival?: boolean;
  closedToDeparture?: boolean;
}

/** A night whose allotment is now below what is already booked; it is stored and sold as 0 available. */
export interface ConflictNight {
  unitTypeId: string;
  date: string;
  allotment: number;
  booked: number;
}

export interface AvailabilityResult {
  nights: number;
  conflicts: ConflictNight[];
}

const VALUE_FIELDS = [
  'allotment',
  'stopSell',
  'minStay',
  'minStayArrival',
  'minStayThrough',
  'maxStay',
  'closedToArrival',
  'closedToDeparture',
] as const;

/** Checks what the JSON schema cannot: real dates, range limits, known unit types, consistent restrictions. */
export function checkAvailabilityUpdates(
  updates: readonly AvailabilityUpdate[],
  unitTypeIds: ReadonlySet<string>,
  today: string,
): void {
  const errors: FieldError[] = [];
  updates.forEach((update, index) => {
    const prefix = `updates[${index}].`;
    if (!unitTypeIds.has(update.unitTypeId)) {
      errors.push({ field: `${prefix}unitTypeId`, message: `unit type "${update.unitTypeId}" does not exist in this park; create it first` });
    }
    errors.push(...checkWriteRange(update.from, update.to, today, prefix));
    if (!VALUE_FIELDS.some((field) => update[field] !== undefined)) {
      errors.push({ field: `${prefix}allotment`, message: `the update sets nothing; give at least one of: ${VALUE_FIELDS.join(', ')}` });
    }
    if (update.minStay !== undefined && update.minStayArrival !== undefined && update.minStay !== update.minStayArrival) {
      errors.push({ field: `${prefix}minStayArrival`, message: 'minStay is the same restriction as minStayArrival; send only one of them' });
    }
    const minStay = update.minStayArrival ?? update.minStay;
    if (typeof minStay === 'number' && typeof update.maxStay === 'number' && update.maxStay < minStay) {
      errors.push({ field: `${prefix}maxStay`, message: `must be at least the minimum stay (${minStay})` });
    }
  });
  if (errors.length > 0) throw validationError(errors);
}

/** The columns an update sets when a row already exists; fields it leaves out keep their value. */
function updatedColumns(update: AvailabilityUpdate): string[] {
  const columns: string[] = [];
  if (update.allotment !== undefined) columns.push('allotment');
  if (update.stopSell !== undefined) columns.push('stop_sell');
  if (update.minStay !== undefined || update.minStayArrival !== undefined) columns.push('min_stay_arrival');
  if (update.minStayThrough !== undefined) columns.push('min_stay_through');
  if (update.maxStay !== undefined) columns.push('max_stay');
  if (update.closedToArrival !== undefined) columns.push('closed_to_arrival');
  if (update.closedToDeparture !== undefined) columns.push('closed_to_departure');
  return columns;
}

/**
 * Builds the common table expressions that write one update for every night
 * of its range as `written` and mark the nights dirty. Every other connection
 * gets the nights. The sending connection gets back the nights where it set
 * an allotment but bookings make `available` lower, or it would oversell.
 * `written` returns unit_type_id, date, allotment and booked of each night
 * after the write. The one-statement webhook apply writes the same rows with
 * its own text (src/webhooks/one-statement-sql.ts);
 * test/webhooks-one-statement.test.ts checks that both give the same result.
 */
function availabilityWrite(parkId: string, update: AvailabilityUpdate, options: { sourceChannel: string | null; now: Date }): RawBuilder<unknown> {
  const columns = updatedColumns(update);
  const assignments = sql.join(
    [...columns, 'updated_at'].map((column) => sql`${sql.ref(column)} = excluded.${sql.ref(column)}`),
  );
  const minStayArrival = update.minStayArrival !== undefined ? update.minStayArrival : (update.minStay ?? null);
  const written = sql.table('written');
  const mark = { parkId, kind: 'availability', unitTypeId: update.unitTypeId, sourceChannel: options.sourceChannel } as const;
  const returnToSender =
    options.sourceChannel !== null && update.allotment !== undefined
      ? sql`, written_own as (${markDirtyForConnectionStatement(
          { parkId, channel: options.sourceChannel, kind: 'availability' },
          sql`(select w.unit_type_id, w.date from ${written} w where w.booked > 0) as night`,
        )})`
      : sql``;
  return sql`${written} as (
      insert into availability as a (park_id, unit_type_id, date, allotment, stop_sell, min_stay_arrival,
        min_stay_through, max_stay, closed_to_arrival, closed_to_departure, updated_at)
      select ${parkId}, ${update.unitTypeId}, night::date, ${update.allotment ?? 0}, ${update.stopSell ?? false},
        ${minStayArrival}::integer, ${update.minStayThrough ?? null}::integer, ${update.maxStay ?? null}::integer,
        ${update.closedToArrival ?? false}, ${update.closedToDeparture ?? false}, ${options.now}
      from generate_series(${update.from}::date, ${update.to}::date, interval '1 day') as night
      on conflict (park_id, unit_type_id, date) do update set ${assignments}
      returning a.unit_type_id, a.date, a.allotment, a.booked
    ),
    written_others as (${markDirtyStatement(mark, sql`${written} as night`)})
    ${returnToSender}`;
}

/** Writes one update and its dirty marks in a single statement; returns each night after the write. */
async function upsertRange(
  db: Executor,
  parkId: string,
  update: AvailabilityUpdate,
  options: { sourceChannel: string | null; now: Date },
): Promise<Array<{ date: string; allotment: number; booked: number }>> {
  const result = await sql<{ date: string; allotment: number; booked: number }>`
    with ${availabilityWrite(parkId, update, options)}
    select date, allotment, booked from written
  `.execute(db);
  return result.rows;
}

/**
 * Applies availability updates in order and marks the nights dirty for every
 * other connection, and for the sending connection where bookings make
 * `available` differ from the allotment it sent. The caller validates first
 * and owns the transaction.
 */
export async function applyAvailability(
  db: Executor,
  parkId: string,
  updates: readonly AvailabilityUpdate[],
  options: { sourceChannel: string | null; now: Date },
): Promise<AvailabilityResult> {
  const conflicts: ConflictNight[] = [];
  let nights = 0;
  for (const update of updates) {
    const written = await upsertRange(db, parkId, update, options);
    nights += written.length;
    for (const row of written) {
      if (row.booked > row.allotment) conflicts.push({ unitTypeId: update.unitTypeId, ...row });
    }
  }
  return { nights, conflicts };
}

/** One night as the API shows it; nights with no stored row have nothing on sale. */
export interface AvailabilityItem {
  unitTypeId: string;
  date: string;
  allotment: number;
  booked: number;
  available: number;
  stopSell: boolean;
  minStay: number | null;
  minStayArrival: number | null;
  minStayThrough: number | null;
  maxStay: number | null;
  closedToArrival: boolean;
  closedToDeparture: boolean;
}

/**
 * Reads one item per unit type and night of an inclusive range, in
 * (unitTypeId, date) order. `after` and `limit` page through it: only the
 * nights after that (unitTypeId, date) key, at most `limit` of them.
 */
export async function readAvailability(
  db: Executor,
  parkId: string,
  range: {
    from: string;
    to: string;
    unitTypeId?: string | undefined;
    after?: { unitTypeId: string; date: string } | null;
    limit?: number;
  },
): Promise<AvailabilityItem[]> {
  const unitFilter = range.unitTypeId ? sql`and u.unit_type_id = ${range.unitTypeId}` : sql``;
  const afterFilter = range.after ? sql`and (u.unit_type_id, night::date) > (${range.after.unitTypeId}, ${range.after.date}::date)` : sql``;
  const limit = range.limit === undefined ? sql`` : sql`limit ${range.limit}`;
  const result = await sql<AvailabilityColumns>`
    select u.unit_type_id, night::date as date,
      coalesce(a.allotment, 0) as allotment, coalesce(a.booked, 0) as booked, coalesce(a.available, 0) as available,
      coalesce(a.stop_sell, false) as stop_sell, a.min_stay_arrival, a.min_stay_through, a.max_stay,
      coalesce(a.closed_to_arrival, false) as closed_to_arrival, coalesce(a.closed_to_departure, false) as closed_to_departure
    from unit_types u
    cross join generate_series(${range.from}::date, ${range.to}::date, interval '1 day') as night
    left join availability a on a.park_id = u.park_id and a.unit_type_id = u.unit_type_id and a.date = night::date
    where u.park_id = ${parkId} ${unitFilter} ${afterFilter}
    order by u.unit_type_id, night
    ${limit}
  `.execute(db);
  return result.rows.map(toAvailabilityItem);
}

/** The availability columns the API reads, with nights that have no row filled in as nothing on sale. */
export interface AvailabilityColumns {
  unit_type_id: string;
  date: string;
  allotment: number;
  booked: number;
  available: number;
  stop_sell: boolean;
  min_stay_arrival: number | null;
  min_stay_through: number | null;
  max_stay: number | null;
  closed_to_arrival: boolean;
  closed_to_departure: boolean;
}

/** Maps a row to the item every availability read returns, field for field. */
export function toAvailabilityItem(row: AvailabilityColumns): AvailabilityItem {
  return {
    unitTypeId: row.unit_type_id,
    date: row.date,
    allotment: row.allotment,
    booked: row.booked,
    available: row.available,
    stopSell: row.stop_sell,
    minStay: row.min_stay_arrival,
    minStayArrival: row.min_stay_arrival,
    minStayThrough: row.min_stay_through,
    maxStay: row.max_stay,
    closedToArrival: row.closed_to_arrival,
    closedToDeparture: row.closed_to_departure,
  };
}
