import { AppError, sqlState, SQLSTATE, validationError, type FieldError } from '../errors.ts';
import type { Executor } from '../audit/audit.ts';
import { currencyExponent } from '../inventory/money.ts';
import { isValidTimezone } from '../lib/dates.ts';
import type { ParkRow, UnitTypeRow } from '../db/schema.ts';

export interface ParkInput {
  parkId: string;
  name: string;
  timezone: string;
  currency: string;
}

export interface ParkView {
  parkId: string;
  name: string;
  timezone: string;
  currency: string;
  createdAt: string;
}

export interface UnitTypeView {
  unitTypeId: string;
  name: string;
  units: number;
}

export function toParkView(row: ParkRow): ParkView {
  return {
    parkId: row.park_id,
    name: row.name,
    timezone: row.timezone,
    currency: row.currency,
    createdAt: row.created_at.toISOString(),
  };
}

export function toUnitTypeView(row: UnitTypeRow): UnitTypeView {
  return { unitTypeId: row.unit_type_id, name: row.name, units: row.units };
}

/** Checks what a JSON schema cannot: that the timezone and currency are real. */
export function validateParkInput(input: ParkInput): void {
  const errors: FieldError[] = [];
  if (!isValidTimezone(input.timezone)) {
    errors.push({ field: 'timezone', message: `"${input.timezone}" is not an IANA timezone name such as "Europe/Amsterdam"` });
  }
  if (currencyExponent(input.currency) === undefined) {
    errors.push({ field: 'currency', message: `"${input.currency}" is not an ISO 4217 currency code such as "EUR"` });
  }
  if (input.name.trim() === '') errors.push({ field: 'name', message: 'must not be blank' });
  if (errors.length > 0) throw validationError(errors);
}

export async function createPark(db: Executor, input: ParkInput): Promise<ParkRow> {
  validateParkInput(input);
  try {
    return await db
      .insertInto('parks')
      .values({ park_id: input.parkId, name: input.name.trim(), timezone: input.timezone, currency: input.currency })
      .returningAll()
      .executeTakeFirstOrThrow();
  } catch (error) {
    if (sqlState(error) === SQLSTATE.uniqueViolation) {
      throw new AppError('park_exists', `Park "${input.parkId}" already exists; choose another parkId.`, {
        errors: [{ field: 'parkId', message: `"${input.parkId}" is already taken by another park` }],
        cause: error,
      });
    }
    throw error;
  }
}

/** Loads a park or raises 404; pass `forUpdate` to lock it for the rest of the transaction. */
export async function getPark(db: Executor, parkId: string, options: { forUpdate?: boolean } = {}): Promise<ParkRow> {
  let query = db.selectFrom('parks').selectAll().where('park_id', '=', parkId);
  if (options.forUpdate) query = query.forUpdate();
  const row = await query.executeTakeFirst();
  if (!row) throw new AppError('park_not_found', `Park "${parkId}" does not exist.`);
  return row;
}

export async function listParks(db: Executor, parkIds: string[] | null): Promise<ParkRow[]> {
  let query = db.selectFrom('parks').selectAll().orderBy('park_id');
  if (parkIds !== null) {
    if (parkIds.length === 0) return [];
    query = query.where('park_id', 'in', parkIds);
  }
  return query.execute();
}

export async function listUnitTypes(db: Executor, parkId: string): Promise<UnitTypeRow[]> {
  return db.selectFrom('unit_types').selectAll().where('park_id', '=', parkId).orderBy('unit_type_id').execute();
}

export async function getUnitType(db: Executor, parkId: string, unitTypeId: string): Promise<UnitTypeRow> {
  const row = await db
    .selectFrom('unit_types')
    .selectAll()
    .where('park_id', '=', parkId)
    .where('unit_type_id', '=', unitTypeId)
    .executeTakeFirst();
  if (!row) throw new AppError('unit_type_not_found', `Unit type "${unitTypeId}" does not exist in park "${parkId}".`);
  return row;
}

/**
 * Creates or replaces a unit type and reports in `created` which of the two
 * happened. The caller must hold the park row lock, because the row lock below
 * takes nothing while the unit type does not exist, and two concurrent
 * creations would then both report `created`.
 */
export async function putUnitType(
  db: Executor,
  parkId: string,
  unitTypeId: string,
  input: { name: string; units: number },
): Promise<{ row: UnitTypeRow; created: boolean; previous?: UnitTypeRow }> {
  if (input.name.trim() === '') throw validationError([{ field: 'name', message: 'must not be blank' }]);
  const previous = await db
    .selectFrom('unit_types')
    .selectAll()
    .where('park_id', '=', parkId)
    .where('unit_type_id', '=', unitTypeId)
    .forUpdate()
    .executeTakeFirst();
  const row = await db
    .insertInto('unit_types')
    .values({ park_id: parkId, unit_type_id: unitTypeId, name: input.name.trim(), units: input.units })
    .onConflict((conflict) =>
      conflict.columns(['park_id', 'unit_type_id']).doUpdateSet({ name: input.name.trim(), units: input.units, updated_at: new Date() }),
    )
    .returningAll()
    .executeTakeFirstOrThrow();
  return previous ? { row, created: false, previous } : { row, created: true };
}
