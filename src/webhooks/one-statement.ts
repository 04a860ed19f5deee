import { sql, type RawBuilder } from 'kysely';
import type { Executor } from '../audit/audit.ts';
import { SQLSTATE, sqlState } from '../errors.ts';
import { availabilityWrite, type AvailabilityUpdate } from '../inventory/availability.ts';
import { syncEventRow, type SyncEvent, type SyncEventStatus } from '../observability/sync-events.ts';
import type { PreparedChange } from './apply.ts';
import type { KeyScope } from './idempotency.ts';
import { advanceVersionsStatement } from './versions.ts';

/** Most updates one statement applies; a larger request goes through the transaction path. */
const MAX_UPDATES = 50;
/** Conflict nights an event row lists, as in the transaction path. */
const EVENT_CONFLICT_SAMPLE = 20;

type AvailabilityChange = Extract<PreparedChange, { kind: 'availability' }>;

/**
 * True when an availability change can be applied by one statement: at most
 * MAX_UPDATES updates and no two of them write the same night, since one
 * statement cannot write a row twice.
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
  /** The request's event row; the statement fills in its status and detail. */
  event: SyncEvent & { eventId: string };
}

export interface OneStatementOutcome {
  status: SyncEventStatus;
  body: Record<string, unknown>;
}

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

/**
 * Applies an availability webhook in one statement, and so one round trip
 * and one commit: the X-Version rows, every update with its dirty marks, the
 * event row and the Idempotency-Key's stored response. The response and the
 * event detail are built in SQL in the same shape as the transaction path.
 *
 * Returns null when the transaction path must take the request instead: the
 * version was refused (that path finds the entities that refused it and
 * responds 409), or PostgreSQL asked for a retry after a deadlock.
 */
export async function applyInOneStatement(db: Executor, input: OneStatementInput): Promise<OneStatementOutcome | null> {
  const { change, parkId, channel, now, scope, event } = input;
  const keys = [...new Set(change.entityKeys)];
  const options = { sourceChannel: channel, now };
  const guard = sql<boolean>`(select ok from guard)`;
  const writes = change.body.updates.map((update, index) => availabilityWrite(`written_${index}`, parkId, update, options, guard));
  const written = change.body.updates.map((_, index) => sql`select ${index}::integer as step, w.* from ${sql.table(`written_${index}`)} w`);
  const conflict = sql`jsonb_build_object('unitTypeId', unit_type_id, 'date', date, 'allotment', allotment, 'booked', booked)`;
  try {
    const result = await sql<OneStatementOutcome>`
      with versions as (${advanceVersionsStatement({ channel, parkId, kind: 'availability' }, keys, input.version, now)}),
      guard as (select parksync_require_versions((select count(*) from versions), ${keys.length}) as ok),
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
      completed as (
        update idempotency_keys
        set state = 'completed', response_status = 202, response_body = (select body from outcome), locked_until = null
        where channel = ${scope.channel} and endpoint = ${scope.endpoint} and idempotency_key = ${scope.key}
      )
      select status, body from outcome
    `.execute(db);
    const row = result.rows[0];
    if (!row) throw new Error('the availability statement returned no outcome');
    const { eventId, status, ...rest } = row.body;
    return { status: row.status, body: { eventId, status, ...rest } };
  } catch (error) {
    const state = sqlState(error);
    if (state === SQLSTATE.versionRefused || state === SQLSTATE.deadlockDetected || state === SQLSTATE.serializationFailure) return null;
    throw error;
  }
}
