import type { Insertable } from 'kysely';
import type { Executor } from '../audit/audit.ts';
import type { ChannelSyncEventsTable } from '../db/schema.ts';
import { overbookBlocks, publishValidationFailures, webhookLatency, webhookRequests, webhookVersionRejections } from './metrics.ts';

/** Outcomes a channel_sync_events row can record. */
export type SyncEventStatus =
  | 'applied'
  | 'shadowed'
  | 'replayed'
  | 'stale'
  | 'conflict'
  | 'overbook'
  | 'rejected'
  | 'rate_limited'
  | 'paused'
  | 'delivered'
  | 'failed'
  | 'dead'
  | 'drift';

export interface SyncEvent {
  eventId?: string;
  occurredAt: Date;
  parkId: string | null;
  channel: string;
  direction: 'inbound' | 'outbound';
  kind: string;
  status: SyncEventStatus;
  idempotencyKey?: string | null;
  version?: number | null;
  httpStatus?: number | null;
  /** Error code and message; never a secret, a signature or guest data. */
  error?: string | null;
  latencyMs?: number | null;
  requestId?: string | null;
  deliveryId?: string | null;
  /** Counts and ids only, such as nights written or failed nights; never guest personal data. */
  detail?: Record<string, unknown> | null;
}

/**
 * Returns true for a webhook rejected for its version: status stale, or status
 * conflict with HTTP status 409. An allotment lowered below booked is stored
 * as conflict too, but accepted with 202.
 */
export function isVersionRejection(event: Pick<SyncEvent, 'status' | 'httpStatus'>): boolean {
  return event.status === 'stale' || (event.status === 'conflict' && event.httpStatus === 409);
}

/** Counts the event in the Prometheus counters the alert rules in ops/prometheus read. */
export function countSyncEvent(event: SyncEvent): void {
  if (event.direction === 'inbound') {
    webhookRequests.inc({ channel: event.channel, kind: event.kind, status: event.status });
    if (event.latencyMs !== null && event.latencyMs !== undefined) {
      webhookLatency.observe({ channel: event.channel, kind: event.kind }, event.latencyMs / 1000);
    }
    if (isVersionRejection(event)) webhookVersionRejections.inc({ channel: event.channel, kind: event.kind });
    if (event.status === 'overbook') overbookBlocks.inc({ park_id: event.parkId ?? '' });
  }
  if (event.kind === 'publish' && event.status === 'rejected') publishValidationFailures.inc({ park_id: event.parkId ?? '' });
}

/** Builds the channel_sync_events row of an event, for an insert. */
export function syncEventRow(event: SyncEvent): Insertable<ChannelSyncEventsTable> {
  return {
    ...(event.eventId ? { event_id: event.eventId } : {}),
    occurred_at: event.occurredAt,
    park_id: event.parkId,
    channel: event.channel,
    direction: event.direction,
    kind: event.kind,
    status: event.status,
    idempotency_key: event.idempotencyKey ?? null,
    version: event.version ?? null,
    http_status: event.httpStatus ?? null,
    error: event.error ?? null,
    latency_ms: event.latencyMs ?? null,
    request_id: event.requestId ?? null,
    delivery_id: event.deliveryId ?? null,
    detail: event.detail ? JSON.stringify(event.detail) : null,
  };
}

/** Writes one event row and returns its id. Call it in the transaction of the change when there is one. */
export async function recordSyncEvent(db: Executor, event: SyncEvent): Promise<string> {
  countSyncEvent(event);
  const row = await db.insertInto('channel_sync_events').values(syncEventRow(event)).returning('event_id').executeTakeFirstOrThrow();
  return row.event_id;
}
