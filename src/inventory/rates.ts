import { sql } from 'kysely';
import type { Executor } from '../audit/audit.ts';
import { validationError, type FieldError } from '../errors.ts';
import { markDirtyStatement } from '../sync/dirty.ts';
import { formatAmount, parseAmount } from './money.ts';
import { checkWriteRange } from './ranges.ts';

export const DEFAULT_RATE_PLAN = 'standard';

/** A rate over an inclusive date range; `amount` is a decimal string in the park's currency. */
export interface RateUpdate {
  unitTypeId: string;
  ratePlanId?: string;
  from: string;
  to: string;
  amount: string;
}

export interface ParsedRateUpdate {
  unitTypeId: string;
  ratePlanId: string;
  from: string;
  to: string;
  amountMinor: number;
}

/** Checks the currency, ranges, unit types and amounts, and converts amounts to minor units. */
export function parseRateUpdates(
  body: { currency: string; updates: readonly RateUpdate[] },
  park: { currency: string },
  unitTypeIds: ReadonlySet<string>,
  today: string,
): ParsedRateUpdate[] {
  const errors: FieldError[] = [];
  if (body.currency !== park.currency) {
    errors.push({ field: 'currency', message: `must be the park's currency ${park.currency}, not ${body.currency}` });
  }
  const parsed: ParsedRateUpdate[] = [];
  body.updates.forEach((update, index) => {
    const prefix = `updates[${index}].`;
    if (!unitTypeIds.has(update.unitTypeId)) {
      errors.push({ field: `${prefix}unitTypeId`, message: `unit type "${update.unitTypeId}" does not exist in this park; create it first` });
    }
    errors.push(...checkWriteRange(update.from, update.to, today, prefix));
    const amount = parseAmount(update.amount, park.currency);
    if (!amount.ok) {
      errors.push({ field: `${prefix}amount`, message: amount.message });
      return;
    }
    parsed.push({
      unitTypeId: update.unitTypeId,
      ratePlanId: update.ratePlanId ?? DEFAULT_RATE_PLAN,
      from: update.from,
      to: update.to,
      amountMinor: amount.minor,
    });
  });
  if (errors.length > 0) throw validationError(errors);
  return parsed;
}

/** Writes the rates and marks the nights dirty for every other connection; the caller owns the transaction. */
export async function applyRates(
  db: Executor,
  parkId: string,
  updates: readonly ParsedRateUpdate[],
  options: { sourceChannel: string | null; now: Date },
): Promise<{ nights: number }> {
  let nights = 0;
  for (const update of updates) {
    const mark = { parkId, kind: 'rates', unitTypeId: update.unitTypeId, sourceChannel: options.sourceChannel } as const;
    const written = await sql<{ nights: number }>`
      with written as (
        insert into rates (park_id, unit_type_id, rate_plan_id, date, amount_minor, updated_at)
        select ${parkId}, ${update.unitTypeId}, ${update.ratePlanId}, night::date, ${update.amountMinor}, ${options.now}
        from generate_series(${update.from}::date, ${update.to}::date, interval '1 day') as night
        on conflict (park_id, unit_type_id, rate_plan_id, date)
        do update set amount_minor = excluded.amount_minor, updated_at = excluded.updated_at
        returning date
      ),
      dirty as (${markDirtyStatement(mark, sql`written as night`)})
      select count(*)::integer as nights from written
    `.execute(db);
    nights += written.rows[0]?.nights ?? 0;
  }
  return { nights };
}

export interface RateItem {
  unitTypeId: string;
  ratePlanId: string;
  date: string;
  amount: string;
  amountMinor: number;
  currency: string;
}

export async function readRates(
  db: Executor,
  park: { park_id: string; currency: string },
  range: { from: string; to: string; unitTypeId?: string | undefined },
): Promise<RateItem[]> {
  let query = db
    .selectFrom('rates')
    .select(['unit_type_id', 'rate_plan_id', 'date', 'amount_minor'])
    .where('park_id', '=', park.park_id)
    .where('date', '>=', range.from)
    .where('date', '<=', range.to);
  if (range.unitTypeId) query = query.where('unit_type_id', '=', range.unitTypeId);
  const rows = await query.orderBy('unit_type_id').orderBy('rate_plan_id').orderBy('date').execute();
  return rows.map((row) => toRateItem(row, park.currency));
}

/** Maps a rate row to the item every rate read returns, the amount as a decimal string. */
export function toRateItem(row: { unit_type_id: string; rate_plan_id: string; date: string; amount_minor: number }, currency: string): RateItem {
  return {
    unitTypeId: row.unit_type_id,
    ratePlanId: row.rate_plan_id,
    date: row.date,
    amount: formatAmount(row.amount_minor, currency),
    amountMinor: row.amount_minor,
    currency,
  };
}
