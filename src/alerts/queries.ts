import { sql } from 'kysely';
import type { Executor } from '../audit/audit.ts';

/**
 * The reads behind the alert rules, one statement per rule. Windows end at
 * `now` from the injected clock, so the rules see the same time as the code
 * that wrote the rows. Rules split by channel cover only channels that have a
 * connection: a webhook path accepts any channel slug, and counting unknown
 * ones would let anyone add alert states and metric labels.
 */

const SUCCESS_STATUSES = ['applied', 'shadowed', 'replayed'];

function minutesBefore(now: Date, minutes: number): Date {
  return new Date(now.getTime() - minutes * 60_000);
}

/** Counts inbound webhook requests per connected channel in the window, and those applied, shadowed or replayed. */
export async function webhookOutcomes(
  db: Executor,
  now: Date,
  windowMinutes: number,
): Promise<Array<{ channel: string; requests: number; successes: number }>> {
  const result = await sql<{ channel: string; requests: number; successes: number }>`
    select c.channel,
      count(e.event_id)::int as requests,
      (count(e.event_id) filter (where e.status in (${sql.join(SUCCESS_STATUSES)})))::int as successes
    from (select distinct channel from connections) as c
    left join channel_sync_events e
      on e.channel = c.channel and e.direction = 'inbound'
      and e.occurred_at > ${minutesBefore(now, windowMinutes)} and e.occurred_at <= ${now}
    group by c.channel
  `.execute(db);
  return result.rows;
}

/**
 * Counts inbound availability and rates webhooks per connected channel in
 * the window, and those rejected for their version: status stale, or status
 * conflict with HTTP status 409. An allotment lowered below booked is also
 * stored as conflict, but accepted with 202, so it is not a version
 * rejection (the same test as isVersionRejection in observability/sync-events.ts).
 */
export async function versionRejections(
  db: Executor,
  now: Date,
  windowMinutes: number,
): Promise<Array<{ channel: string; requests: number; rejections: number }>> {
  const result = await sql<{ channel: string; requests: number; rejections: number }>`
    select c.channel,
      count(e.event_id)::int as requests,
      (count(e.event_id) filter (where e.status = 'stale' or (e.status = 'conflict' and e.http_status = 409)))::int as rejections
    from (select distinct channel from connections) as c
    left join channel_sync_events e
      on e.channel = c.channel and e.direction = 'inbound' and e.kind in ('availability', 'rates')
      and e.occurred_at > ${minutesBefore(now, windowMinutes)} and e.occurred_at <= ${now}
    group by c.channel
  `.execute(db);
  return result.rows;
}

/**
 * Reads the last successful availability delivery of each connection parksync
 * delivers to (enabled, not paused, with an endpoint). It looks as far back
 * as channel_sync_events keeps rows, so a connection whose last delivery is
 * older than the retention reads as never delivered.
 */
export async function lastAvailabilityDeliveries(
  db: Executor,
  now: Date,
): Promise<Array<{ park_id: string; channel: string; last_delivered_at: Date | null }>> {
  const result = await sql<{ park_id: string; channel: string; last_delivered_at: Date | null }>`
    select c.park_id, c.channel, last.occurred_at as last_delivered_at
    from connections c
    left join lateral (
      select e.occurred_at from channel_sync_events e
      where e.channel = c.channel and e.park_id = c.park_id and e.direction = 'outbound'
        and e.kind = 'availability' and e.status = 'delivered' and e.occurred_at <= ${now}
      order by e.occurred_at desc
      limit 1
    ) as last on true
    where c.enabled and not c.paused and c.endpoint_url is not null
  `.execute(db);
  return result.rows.map((row) => ({ ...row, last_delivered_at: row.last_delivered_at === null ? null : new Date(row.last_delivered_at) }));
}

/** Counts inbound webhooks blocked as overbooked, per park (every park, zero included) in the window. */
export async function overbookBlocks(db: Executor, now: Date, windowMinutes: number): Promise<Array<{ park_id: string; blocks: number }>> {
  const result = await sql<{ park_id: string; blocks: number }>`
    select p.park_id, count(e.event_id)::int as blocks
    from parks p
    left join channel_sync_events e
      on e.park_id = p.park_id and e.direction = 'inbound' and e.status = 'overbook'
      and e.occurred_at > ${minutesBefore(now, windowMinutes)} and e.occurred_at <= ${now}
    group by p.park_id
  `.execute(db);
  return result.rows;
}

/**
 * Counts the changes waiting for each connection: dirty nights and open
 * (pending or in flight) deliveries, with the time the oldest was marked or created. Paused
 * and disabled connections are included, because their changes wait too.
 */
export async function retryQueues(
  db: Executor,
): Promise<Array<{ park_id: string; channel: string; waiting: number; oldest_at: Date | null }>> {
  const result = await sql<{ park_id: string; channel: string; waiting: number; oldest_at: Date | null }>`
    select c.park_id, c.channel, coalesce(w.waiting, 0)::int as waiting, w.oldest_at
    from connections c
    left join (
      select park_id, channel, sum(waiting) as waiting, min(oldest_at) as oldest_at from (
        select park_id, channel, count(*) as waiting, min(marked_at) as oldest_at
        from outbound_dirty group by park_id, channel
        union all
        select park_id, channel, count(*), min(created_at)
        from outbound_deliveries where state in ('pending', 'in_flight') group by park_id, channel
      ) as parts
      group by park_id, channel
    ) as w on w.park_id = c.park_id and w.channel = c.channel
  `.execute(db);
  return result.rows.map((row) => ({ ...row, oldest_at: row.oldest_at === null ? null : new Date(row.oldest_at) }));
}

/**
 * Counts publish validation failures (kind publish, status rejected) per park in
 * the window, for every park that has any publish row. Rows without a park
 * count under the park id ''.
 */
export async function publishFailures(db: Executor, now: Date, windowMinutes: number): Promise<Array<{ park_id: string; failures: number }>> {
  // NOTE: no code writes kind publish yet. These are the rows the publish pipeline will write through
  // recordSyncEvent; until the first one exists the rule reports no_data.
  const result = await sql<{ park_id: string; failures: number }>`
    select coalesce(park_id, '') as park_id,
      (count(*) filter (where status = 'rejected' and occurred_at > ${minutesBefore(now, windowMinutes)}))::int as failures
    from channel_sync_events
    where kind = 'publish' and occurred_at <= ${now}
    group by coalesce(park_id, '')
  `.execute(db);
  return result.rows;
}
