import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import type { BenchSimulator } from '../../../scripts/bench/lib/simulator.ts';
import type { TrackedWebhook } from './sender.ts';

/**
 * Reads what parksync stored and what the simulator received, for the
 * reliability tests' checks. Each function opens its own connection, so it
 * works across database restarts.
 */

async function query<R extends pg.QueryResultRow>(databaseUrl: string, text: string, values: unknown[] = []): Promise<R[]> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    return (await client.query<R>(text, values)).rows;
  } finally {
    await client.end();
  }
}

/** Event ids of `webhooks` that have no applied inbound event row. */
export async function missingEvents(databaseUrl: string, webhooks: readonly TrackedWebhook[]): Promise<string[]> {
  const eventIds = webhooks.flatMap((webhook) => (webhook.eventId ? [webhook.eventId] : []));
  const rows = await query<{ event_id: string }>(
    databaseUrl,
    `select event_id::text from channel_sync_events where event_id = any($1::uuid[]) and direction = 'inbound' and status = 'applied'`,
    [eventIds],
  );
  const found = new Set(rows.map((row) => row.event_id));
  return eventIds.filter((eventId) => !found.has(eventId));
}

/** Idempotency keys of a channel applied more than once, with their counts. */
export async function keysAppliedTwice(databaseUrl: string, channel: string): Promise<Array<{ key: string; count: number }>> {
  const rows = await query<{ idempotency_key: string; count: string }>(
    databaseUrl,
    `select idempotency_key, count(*) from channel_sync_events
     where channel = $1 and direction = 'inbound' and status = 'applied' group by idempotency_key having count(*) > 1`,
    [channel],
  );
  return rows.map((row) => ({ key: row.idempotency_key, count: Number(row.count) }));
}

/** Nights whose stored allotment is not what their acknowledged webhook set; each night is written by one webhook only. */
export async function wrongAllotments(databaseUrl: string, parkId: string, webhooks: readonly TrackedWebhook[]): Promise<string[]> {
  const rows = await query<{ unit_type_id: string; date: string; allotment: number }>(
    databaseUrl,
    'select unit_type_id, date::text as date, allotment from availability where park_id = $1',
    [parkId],
  );
  const stored = new Map(rows.map((row) => [`${row.unit_type_id}|${row.date}`, row.allotment]));
  return webhooks
    .filter((webhook) => webhook.eventId)
    .map((webhook) => webhook.request)
    .filter((request) => stored.get(`${request.unitTypeId}|${request.date}`) !== request.allotment)
    .map((request) => `${request.unitTypeId} ${request.date}: stored ${stored.get(`${request.unitTypeId}|${request.date}`)}, sent ${request.allotment}`);
}

/** Dirty nights plus open deliveries of the park; zero once everything went out. */
export async function outboundBacklog(databaseUrl: string, parkId: string): Promise<number> {
  const rows = await query<{ backlog: string }>(
    databaseUrl,
    `select (select count(*) from outbound_dirty where park_id = $1)
          + (select count(*) from outbound_deliveries where park_id = $1 and state in ('pending', 'in_flight')) as backlog`,
    [parkId],
  );
  return Number(rows[0]?.backlog ?? 0);
}

export async function deliveriesByState(databaseUrl: string, parkId: string, channel: string): Promise<Record<string, number>> {
  const rows = await query<{ state: string; count: string }>(
    databaseUrl,
    'select state, count(*) from outbound_deliveries where park_id = $1 and channel = $2 group by state',
    [parkId, channel],
  );
  return Object.fromEntries(rows.map((row) => [row.state, Number(row.count)]));
}

/** Nights where the channel's view at the simulator differs from parksync's available count. */
export async function channelMismatches(databaseUrl: string, simulator: BenchSimulator, parkId: string, channel: string): Promise<string[]> {
  const rows = await query<{ unit_type_id: string; date: string; available: number }>(
    databaseUrl,
    'select unit_type_id, date::text as date, available from availability where park_id = $1',
    [parkId],
  );
  const view = new Map(simulator.simulator.state.view(channel, parkId).availability.map((night) => [`${night.unitTypeId}|${night.date}`, night.available]));
  return rows
    .filter((row) => view.get(`${row.unit_type_id}|${row.date}`) !== row.available)
    .map((row) => `${channel} ${row.unit_type_id} ${row.date}: channel ${view.get(`${row.unit_type_id}|${row.date}`)}, parksync ${row.available}`);
}

/** Polls `check` until it returns true or the timeout passes; returns whether it did. */
export async function eventually(check: () => Promise<boolean>, timeoutMs: number, intervalMs = 250): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    if (await check()) return true;
    await sleep(intervalMs);
  }
  return check();
}
