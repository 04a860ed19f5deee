import { sql, type SqlBool } from 'kysely';
import type { Executor } from '../audit/audit.ts';
import type { SyncEventStatus } from './sync-events.ts';

/**
 * The SQL behind GET /channels/{channel}/logs: channel_sync_events of one
 * channel, newest first, paged by the key (occurred_at, event_id).
 *
 * The key is unique (it is the table's primary key), so keyset paging on it
 * never repeats a row and never skips a stored one, even when many rows share
 * one occurred_at. The position keeps occurred_at as text with microseconds,
 * because a JavaScript Date would drop them and then skip rows.
 *
 * NOTE: a row committed while a caller pages shows up on a later page only
 * when it sorts after the cursor (an older occurred_at, as a webhook that ran
 * long can write). A newer row needs a fresh read from the first page.
 */

// A Record, so the compiler fails here when a status is added to SyncEventStatus and not to the filter.
const STATUSES: Record<SyncEventStatus, true> = {
  applied: true,
  shadowed: true,
  replayed: true,
  stale: true,
  conflict: true,
  overbook: true,
  rejected: true,
  rate_limited: true,
  paused: true,
  delivered: true,
  failed: true,
  dead: true,
  drift: true,
};

/** Every status an event row can record. */
export const LOG_STATUSES = Object.keys(STATUSES) as SyncEventStatus[];

/**
 * Kinds an event row can record. `unknown` is an inbound request rejected
 * before its kind was known; `publish` is a park page publish, which the
 * publish_validation_failures alert counts.
 */
export const LOG_KINDS = ['availability', 'rates', 'reservations', 'publish', 'unknown'] as const;

export const LOG_DIRECTIONS = ['inbound', 'outbound'] as const;

/** A place in the newest-first order: rows strictly older than it come next. */
export interface LogPosition {
  /** occurred_at in UTC as `YYYY-MM-DDTHH:MM:SS.ffffffZ`. */
  occurredAt: string;
  eventId: string;
}

export interface LogFilter {
  channel: string;
  /** Parks the caller may see; null means every park, including rows with no park. */
  allowedParkIds: string[] | null;
  parkId?: string | undefined;
  status?: string | undefined;
  kind?: string | undefined;
  direction?: string | undefined;
  /** ISO 8601 timestamp, inclusive. */
  since?: string | undefined;
  /** ISO 8601 timestamp, exclusive. */
  until?: string | undefined;
  after?: LogPosition | undefined;
  limit: number;
}

/** One event as the logs endpoint returns it. */
export interface LogItem {
  time: string;
  direction: string;
  kind: string;
  status: string;
  httpStatus: number | null;
  error: string | null;
  idempotencyKey: string | null;
  version: number | null;
  latencyMs: number | null;
  eventId: string;
  requestId: string | null;
  deliveryId: string | null;
  parkId: string | null;
  channel: string;
  detail: unknown;
}

export interface LogPage {
  items: LogItem[];
  /** Position of the last item when more rows follow it; null on the last page. */
  next: LogPosition | null;
}

/** Reads one page of a channel's events, newest first. */
export async function readLogPage(db: Executor, filter: LogFilter): Promise<LogPage> {
  let query = db
    .selectFrom('channel_sync_events')
    .selectAll()
    .select(sql<string>`to_char(occurred_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`.as('position_time'))
    .where('channel', '=', filter.channel)
    .orderBy('occurred_at', 'desc')
    .orderBy('event_id', 'desc')
    // One row more than the page, to tell whether another page follows.
    .limit(filter.limit + 1);

  if (filter.allowedParkIds !== null) {
    // `in` never matches null, so rows without a park stay hidden from park-limited callers.
    query = query.where('park_id', 'in', filter.allowedParkIds.length > 0 ? filter.allowedParkIds : ['']);
  }
  if (filter.parkId !== undefined) query = query.where('park_id', '=', filter.parkId);
  if (filter.status !== undefined) query = query.where('status', '=', filter.status);
  if (filter.kind !== undefined) query = query.where('kind', '=', filter.kind);
  if (filter.direction !== undefined) query = query.where('direction', '=', filter.direction as 'inbound' | 'outbound');
  if (filter.since !== undefined) query = query.where(sql<SqlBool>`occurred_at >= ${filter.since}::timestamptz`);
  if (filter.until !== undefined) query = query.where(sql<SqlBool>`occurred_at < ${filter.until}::timestamptz`);
  if (filter.after !== undefined) {
    const { occurredAt, eventId } = filter.after;
    query = query.where(sql<SqlBool>`(occurred_at, event_id) < (${occurredAt}::timestamptz, ${eventId}::uuid)`);
  }

  const rows = await query.execute();
  const page = rows.slice(0, filter.limit);
  const last = page.at(-1);
  return {
    items: page.map((row) => ({
      time: row.occurred_at.toISOString(),
      direction: row.direction,
      kind: row.kind,
      status: row.status,
      httpStatus: row.http_status,
      error: row.error,
      idempotencyKey: row.idempotency_key,
      version: row.version,
      latencyMs: row.latency_ms,
      eventId: row.event_id,
      requestId: row.request_id,
      deliveryId: row.delivery_id,
      parkId: row.park_id,
      channel: row.channel,
      detail: row.detail ?? null,
    })),
    next: rows.length > filter.limit && last ? { occurredAt: last.position_time, eventId: last.event_id } : null,
  };
}
