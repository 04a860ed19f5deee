import { sql, type RawBuilder } from 'kysely';
import type { Executor } from '../audit/audit.ts';
import { prepared } from '../db/prepared.ts';
import { SQLSTATE, sqlState } from '../errors.ts';
import { availabilityWrite, type AvailabilityUpdate } from '../inventory/availability.ts';
import { syncEventRow, type SyncEvent, type SyncEventStatus } from '../observability/sync-events.ts';
import type { PreparedChange } from './apply.ts';
import { claimKeyStatement, type KeyScope } from './idempotency.ts';
import { targetStamp } from './target.ts';
import { advanceVersionsStatement } from './versions.ts';

/** Most updates one statement applies; a larger request goes through the transaction path. */
const MAX_UPDATES = 50;
/** Conflict nights an event row lists, as in the transaction path. */
const EVENT_CONFLICT_SAMPLE = 20;

type AvailabilityChange = Extract<PreparedChange, { kind: 'availability' }>;

/**
 * Returns true when an availability change can be applied by one statement:
 * at most MAX_UPDATES updates and no two of them write the same night, since
 * one statement cannot write a row twice.
 */
export function fitsOneStatement(change: PreparedChange): change is AvailabilityChange {
  if (change.kind !== 'availability' || change.body.updates.length > MAX_UPDATES) return false;
  const byUnitType = new Map<string, AvailabilityUpdate[]>();
  for (const update of change.body.updates) {
    const ranges = byUnitType.get(update.unitTypeId) ?? [];
    if (ranges.some((range) => range.from <= update.to && update.from <= range.to)) return false;
    byUnitType.set(update.unitTypeId, [...ranges, update]);
  }
  return true;
}

export interface OneStatementInput {
  parkId: string;
  channel: string;
  change: AvailabilityChange;
  version: number;
  now: Date;
  scope: KeyScope;
  fingerprint: string;
  /** The stamp of a cached webhook target, checked in the statement; null for a target read for this request. */
  cachedStamp: string | null;
  /** The request's event row; the statement fills in its status and detail. */
  event: SyncEvent & { eventId: string };
}

/**
 * The result of the statement: applied, or why the request must take the
 * general path instead: the key is already stored or the version was refused
 * (`fallback`), or the cached target is out of date (`stale_target`).
 */
export type OneStatementOutcome =
  | { kind: 'applied'; status: SyncEventStatus; body: Record<string, unknown> }
  | { kind: 'fallback'; reason: 'key_stored' | 'version_refused' | 'retry' }
  | { kind: 'stale_target' };

/** Builds the insert of the request's event row, with status and detail from the statement's `outcome`. */
function eventInsert(event: SyncEvent): RawBuilder<unknown> {
  const row: Record<string, unknown> = {
    ...syncEventRow(event),
    status: sql`(select status from outcome)`,
    detail: sql`(select detail from outcome)`,
  };
  const columns = sql.join(Object.keys(row).map((column) => sql.ref(column)));
  return sql`insert into channel_sync_events (${columns}) values (${sql.join(Object.values(row))})`;
}

/** Builds the check that raises PS428 when the cached target's rows changed; true when there is no cached target. */
function stampCheck(input: OneStatementInput): RawBuilder<boolean> {
  if (input.cachedStamp === null) return sql<boolean>`true`;
  return sql<boolean>`parksync_check(${targetStamp(input.parkId, input.channel)} is not distinct from ${input.cachedStamp}::text,
    ${SQLSTATE.targetChanged}, 'the cached webhook target changed')`;
}

const FALLBACKS: Record<string, OneStatementOutcome> = {
  [SQLSTATE.versionRefused]: { kind: 'fallback', reason: 'version_refused' },
  [SQLSTATE.keyStored]: { kind: 'fallback', reason: 'key_stored' },
  [SQLSTATE.deadlockDetected]: { kind: 'fallback', reason: 'retry' },
  [SQLSTATE.serializationFailure]: { kind: 'fallback', reason: 'retry' },
  [SQLSTATE.targetChanged]: { kind: 'stale_target' },
};

/**
 * Applies an availability webhook in one statement, and so one round trip
 * and one commit: the X-Version rows, every update with its dirty marks, the
 * event row, and the Idempotency-Key stored with its response. The response
 * and the event detail are built in SQL in the same shape as the transaction
 * path. A refused version, a key that is already stored or a changed cached
 * target raises inside the statement (parksync_check), so nothing is kept.
 */
export async function applyInOneStatement(db: Executor, input: OneStatementInput): Promise<OneStatementOutcome> {
  const { change, parkId, channel, now, scope, event } = input;
  const keys = [...new Set(change.entityKeys)];
  const options = { sourceChannel: channel, now };
  const writes = change.body.updates.map((update, index) => availabilityWrite(`written_${index}`, parkId, update, options));
  const written = change.body.updates.map((_, index) => sql`select ${index}::integer as step, w.* from ${sql.table(`written_${index}`)} w`);
  const conflict = sql`jsonb_build_object('unitTypeId', unit_type_id, 'date', date, 'allotment', allotment, 'booked', booked)`;
  const claim = claimKeyStatement(scope, input.fingerprint, now, { response: { status: 202, body: sql`(select body from outcome)` } });
  try {
    const result = await prepared(sql<{ status: SyncEventStatus; body: Record<string, unknown> }>`
      with versions as (${advanceVersionsStatement({ channel, parkId, kind: 'availability' }, keys, input.version, now)}),
      ${sql.join(writes)},
      written as (${sql.join(written, sql` union all `)}),
      conflicts as (select step, unit_type_id, date, allotment, booked from written where booked > allotment),
      counted as (
        select (select count(*) from written)::integer as nights, (select count(*) from conflicts)::integer as conflict_count,
          coalesce((select jsonb_agg(${conflict} order by step, date) from conflicts), '[]'::jsonb) as listed,
          coalesce((select jsonb_agg(${conflict} order by step, date) from
            (select * from conflicts order by step, date limit ${EVENT_CONFLICT_SAMPLE}) as sample), '[]'::jsonb) as sampled
      ),
      outcome as (
        select case when conflict_count > 0 then 'conflict' else 'applied' end as status,
          jsonb_build_object('eventId', ${event.eventId}::text, 'status', 'applied')
            || case when conflict_count > 0 then jsonb_build_object('conflicts', listed) else '{}'::jsonb end as body,
          jsonb_build_object('updates', ${change.body.updates.length}::integer, 'nights', nights,
            'conflicts', conflict_count, 'conflictNights', sampled) as detail
        from counted
      ),
      event as (${eventInsert(event)}),
      claimed as (${claim})
      select status, body,
        parksync_check((select count(*) from versions) = ${keys.length}, ${SQLSTATE.versionRefused}, 'X-Version refused') as versions_advanced,
        parksync_check(exists (select 1 from claimed), ${SQLSTATE.keyStored}, 'Idempotency-Key already stored') as key_claimed,
        ${stampCheck(input)} as target_current
      from outcome
    `).execute(db);
    const row = result.rows[0];
    if (!row) throw new Error('the availability statement returned no outcome');
    const { eventId, status, ...rest } = row.body;
    return { kind: 'applied', status: row.status, body: { eventId, status, ...rest } };
  } catch (error) {
    const fallback = FALLBACKS[sqlState(error) ?? ''];
    if (fallback) return fallback;
    throw error;
  }
}
