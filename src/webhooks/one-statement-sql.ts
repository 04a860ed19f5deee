import { preparedText } from '../db/prepared.ts';
import { SQLSTATE } from '../errors.ts';
import type { AvailabilityUpdate } from '../inventory/availability.ts';
import type { SyncEvent } from '../observability/sync-events.ts';
import { IDEMPOTENCY_TTL_MS, KEY_TAKEOVER_ASSIGNMENTS, type KeyScope } from './idempotency.ts';

/**
 * The text and parameters of the one-statement availability apply
 * (one-statement.ts). Every value is a parameter and every update is an
 * element of the array parameters, so the text depends only on which sets
 * of fields the updates write. Each text is built once and kept. A webhook
 * then costs a lookup and the parameter arrays, and PostgreSQL reuses the
 * statement prepared on each connection.
 */

/** The availability fields an update may set, in the order of their mask bits. */
const FIELDS = [
  'allotment',
  'stop_sell',
  'min_stay_arrival',
  'min_stay_through',
  'max_stay',
  'closed_to_arrival',
  'closed_to_departure',
] as const;
const ALLOTMENT_BIT = 1;

/** Most statement texts kept; shapes beyond these are built for each request. */
const MAX_KEPT_TEXTS = 256;
/** Conflict nights an event row lists, as in the transaction path. */
const EVENT_CONFLICT_SAMPLE = 20;

/** Returns the minimum stay on arrival an update writes: minStayArrival, or minStay when that is not sent. */
function minStayArrivalOf(update: AvailabilityUpdate): number | null | undefined {
  return update.minStayArrival !== undefined ? update.minStayArrival : update.minStay;
}

/** Returns the mask of the fields an update sets: bit i is FIELDS[i]. */
export function fieldMask(update: AvailabilityUpdate): number {
  const set = [
    update.allotment,
    update.stopSell,
    minStayArrivalOf(update),
    update.minStayThrough,
    update.maxStay,
    update.closedToArrival,
    update.closedToDeparture,
  ];
  return set.reduce<number>((mask, value, bit) => (value === undefined ? mask : mask | (1 << bit)), 0);
}

/** Builds the CTE that writes the updates of one field mask, for every night of each range. */
function writeForMask(mask: number): string {
  const assignments = [...FIELDS.filter((_, bit) => (mask & (1 << bit)) !== 0), 'updated_at'].map(
    (column) => `${column} = excluded.${column}`,
  );
  return `written_${mask} as (
    insert into availability as a (park_id, unit_type_id, date, allotment, stop_sell, min_stay_arrival,
      min_stay_through, max_stay, closed_to_arrival, closed_to_departure, updated_at)
    select $1, u.unit_type_id, night::date, coalesce(u.allotment, 0), coalesce(u.stop_sell, false),
      u.min_stay_arrival, u.min_stay_through, u.max_stay,
      coalesce(u.closed_to_arrival, false), coalesce(u.closed_to_departure, false), $3
    from updates u cross join generate_series(u.date_from, u.date_to, interval '1 day') as night
    where u.mask = ${mask}
    on conflict (park_id, unit_type_id, date) do update set ${assignments.join(', ')}
    returning a.unit_type_id, a.date, a.allotment, a.booked
  )`;
}

/** The CTE that records the request's X-Version for every entity that has a lower one or none. */
const VERSIONS = `versions as (
    insert into entity_versions as v (channel, park_id, kind, entity_key, version, updated_at)
    select $2::text, $1::text, 'availability', key, $4::bigint, $3::timestamptz from unnest($5::text[]) as key
    on conflict (channel, park_id, kind, entity_key) do update
      set version = excluded.version, updated_at = excluded.updated_at
      where v.version < excluded.version
    returning v.entity_key
  )`;

/** The CTE that turns the array parameters into one row per update. */
const UPDATES = `updates as (
    select * from unnest($6::integer[], $7::text[], $8::date[], $9::date[], $10::integer[], $11::integer[],
      $12::boolean[], $13::integer[], $14::integer[], $15::integer[], $16::boolean[], $17::boolean[])
      as u(step, unit_type_id, date_from, date_to, mask, allotment, stop_sell, min_stay_arrival,
        min_stay_through, max_stay, closed_to_arrival, closed_to_departure)
  )`;

/**
 * Builds the CTEs that mark the written nights dirty: for every other enabled
 * connection, and for the sender where it set an allotment on nights with
 * bookings, so it is sent the available count back.
 */
function dirtyMarks(masks: readonly number[]): string {
  const others = `dirty_others as (
    insert into outbound_dirty (park_id, channel, kind, unit_type_id, date)
    select c.park_id, c.channel, 'availability', w.unit_type_id, w.date
    from connections c cross join written w
    where c.park_id = $1 and c.enabled and c.channel is distinct from $2
    on conflict (park_id, channel, kind, unit_type_id, date) do update set seq = nextval('outbound_dirty_seq')
  )`;
  const ownMasks = masks.filter((mask) => (mask & ALLOTMENT_BIT) !== 0);
  if (ownMasks.length === 0) return others;
  return `${others},
  dirty_own as (
    insert into outbound_dirty (park_id, channel, kind, unit_type_id, date)
    select $1, $2, 'availability', w.unit_type_id, w.date
    from (${ownMasks.map((mask) => `select * from written_${mask}`).join(' union all ')}) w
    where w.booked > 0
    on conflict (park_id, channel, kind, unit_type_id, date) do update set seq = nextval('outbound_dirty_seq')
  )`;
}

/** Builds the CTEs that count the nights and conflicts and shape the response body and the event detail. */
function outcome(): string {
  const conflict = `jsonb_build_object('unitTypeId', unit_type_id, 'date', date, 'allotment', allotment, 'booked', booked)`;
  return `conflicts as (
    select u.step, w.unit_type_id, w.date, w.allotment, w.booked
    from written w join updates u on u.unit_type_id = w.unit_type_id and w.date between u.date_from and u.date_to
    where w.booked > w.allotment
  ),
  counted as (
    select (select count(*) from written)::integer as nights, (select count(*) from conflicts)::integer as conflict_count,
      coalesce((select jsonb_agg(${conflict} order by step, date) from conflicts), '[]'::jsonb) as listed,
      coalesce((select jsonb_agg(${conflict} order by step, date) from
        (select * from conflicts order by step, date limit ${EVENT_CONFLICT_SAMPLE}) as sample), '[]'::jsonb) as sampled
  ),
  outcome as (
    select case when conflict_count > 0 then 'conflict' else 'applied' end as status,
      jsonb_build_object('eventId', $23::text, 'status', 'applied')
        || case when conflict_count > 0 then jsonb_build_object('conflicts', listed) else '{}'::jsonb end as body,
      jsonb_build_object('updates', cardinality($6::integer[]), 'nights', nights,
        'conflicts', conflict_count, 'conflictNights', sampled) as detail
    from counted
  )`;
}

/** The CTEs that insert the event row and store the Idempotency-Key as completed with the response. */
const EVENT_AND_KEY = `event as (
    insert into channel_sync_events (event_id, occurred_at, park_id, channel, direction, kind, status,
      idempotency_key, version, http_status, error, latency_ms, request_id, delivery_id, detail)
    select $23::uuid, $24::timestamptz, $1, $2, $25::text, $26::text, status, $27::text, $28::bigint, $29::integer,
      $30::text, $31::integer, $32::text, null, detail
    from outcome
  ),
  claimed as (
    insert into idempotency_keys as k (channel, endpoint, idempotency_key, park_id, fingerprint, state,
      response_status, response_body, locked_until, expires_at, created_at)
    select $2, $18::text, $19::text, $1, $20::text, 'completed', 202, (select body from outcome), null, $21::timestamptz, $3
    on conflict (channel, endpoint, idempotency_key) do update
      ${KEY_TAKEOVER_ASSIGNMENTS}
      where k.expires_at <= $3
         or (k.state = 'running' and k.locked_until <= $3 and k.fingerprint = excluded.fingerprint)
    returning k.state
  )`;

/**
 * The final select, which raises (parksync_check) when a version was refused,
 * the key is already stored, or the cached target's rows changed. $22 is the
 * cached target's stamp, as targetStamp in target.ts builds it, or null when
 * the target was read for this request. The stamp check sits in a CASE
 * because PostgreSQL does not promise to evaluate OR from left to right.
 */
const CHECKED_RESULT = `select status, body,
    parksync_check((select count(*) from versions) = cardinality($5::text[]), '${SQLSTATE.versionRefused}', 'X-Version refused') as versions_advanced,
    parksync_check(exists (select 1 from claimed), '${SQLSTATE.keyStored}', 'Idempotency-Key already stored') as key_claimed,
    case when $22::text is null then true else parksync_check(
      (select c.xmin::text || '/' || p.xmin::text || '/' || (select count(*) from unit_types u where u.park_id = p.park_id)
        from connections c join parks p on p.park_id = c.park_id
        where c.park_id = $1 and c.channel = $2) is not distinct from $22::text,
      '${SQLSTATE.targetChanged}', 'the cached webhook target changed') end as target_current
  from outcome`;

/**
 * Builds the statement for updates with these field masks. The parameters
 * are: $1 park, $2 channel, $3 now, $4 version and $5 entity keys. $6 to $17
 * are the updates as arrays, $18 to $21 the Idempotency-Key, $22 the cached
 * target's stamp, and $23 to $32 the event row without its status and detail.
 */
function buildText(masks: readonly number[]): string {
  const written = masks.map((mask) => `select * from written_${mask}`).join(' union all ');
  return preparedText(`with ${VERSIONS},
  ${UPDATES},
  ${masks.map(writeForMask).join(',\n  ')},
  written as (${written}),
  ${dirtyMarks(masks)},
  ${outcome()},
  ${EVENT_AND_KEY}
  ${CHECKED_RESULT}`);
}

const texts = new Map<string, string>();

/** Returns the statement text for updates with these field masks, built on first use. */
export function statementText(masks: readonly number[]): string {
  const key = masks.join(',');
  let text = texts.get(key);
  if (text === undefined) {
    text = buildText(masks);
    if (texts.size < MAX_KEPT_TEXTS) texts.set(key, text);
  }
  return text;
}

export interface StatementValues {
  parkId: string;
  channel: string;
  now: Date;
  version: number;
  entityKeys: readonly string[];
  updates: readonly AvailabilityUpdate[];
  masks: readonly number[];
  scope: KeyScope;
  fingerprint: string;
  cachedStamp: string | null;
  event: SyncEvent & { eventId: string };
}

/** Returns the parameters of statementText in their order. */
export function statementParameters(values: StatementValues): unknown[] {
  const { updates, event, now } = values;
  const column = <T>(read: (update: AvailabilityUpdate) => T | undefined) => updates.map((update) => read(update) ?? null);
  return [
    values.parkId,
    values.channel,
    now,
    values.version,
    [...new Set(values.entityKeys)],
    updates.map((_, index) => index),
    column((update) => update.unitTypeId),
    column((update) => update.from),
    column((update) => update.to),
    values.masks,
    column((update) => update.allotment),
    column((update) => update.stopSell),
    column(minStayArrivalOf),
    column((update) => update.minStayThrough),
    column((update) => update.maxStay),
    column((update) => update.closedToArrival),
    column((update) => update.closedToDeparture),
    values.scope.endpoint,
    values.scope.key,
    values.fingerprint,
    new Date(now.getTime() + IDEMPOTENCY_TTL_MS),
    values.cachedStamp,
    event.eventId,
    event.occurredAt,
    event.direction,
    event.kind,
    event.idempotencyKey ?? null,
    event.version ?? null,
    event.httpStatus ?? null,
    event.error ?? null,
    event.latencyMs ?? null,
    event.requestId ?? null,
  ];
}
