import type { Executor } from '../audit/audit.ts';
import { addDays, daysBetween } from '../lib/dates.ts';
import { markDirtyForConnection } from './dirty.ts';

/** A dead delivery as the dead-letter queue shows it. */
export interface DeadLetter {
  deliveryId: string;
  parkId: string;
  channel: string;
  kind: string;
  attempts: number;
  lastError: string | null;
  lastHttpStatus: number | null;
  nights: number;
  createdAt: string;
  deadAt: string;
}

export async function listDeadLetters(
  db: Executor,
  filter: { channel: string; parkIds: string[] | null; limit: number; before?: string | undefined },
): Promise<DeadLetter[]> {
  let query = db
    .selectFrom('outbound_deliveries')
    .selectAll()
    .where('channel', '=', filter.channel)
    .where('state', '=', 'dead')
    .orderBy('updated_at', 'desc')
    .orderBy('delivery_id')
    .limit(filter.limit);
  if (filter.parkIds !== null) query = query.where('park_id', 'in', filter.parkIds.length > 0 ? filter.parkIds : ['']);
  if (filter.before) query = query.where('updated_at', '<', new Date(filter.before));
  const rows = await query.execute();
  return rows.map((row) => ({
    deliveryId: row.delivery_id,
    parkId: row.park_id,
    channel: row.channel,
    kind: row.kind,
    attempts: row.attempts,
    lastError: row.last_error,
    lastHttpStatus: row.last_http_status,
    nights: row.cells,
    createdAt: row.created_at.toISOString(),
    deadAt: row.updated_at.toISOString(),
  }));
}

/**
 * Re-queues dead deliveries: their nights are marked dirty again for that one
 * connection, so the next delivery sends the state as it is then, and the dead
 * row is kept as 'redriven' for the record. Returns the redriven delivery ids.
 */
export async function redriveDeadLetters(
  db: Executor,
  filter: { channel: string; parkIds: string[] | null; deliveryIds?: string[] | undefined },
): Promise<string[]> {
  let query = db
    .selectFrom('outbound_deliveries')
    .select(['delivery_id', 'park_id', 'channel', 'kind', 'payload'])
    .where('channel', '=', filter.channel)
    .where('state', '=', 'dead')
    .forUpdate();
  if (filter.parkIds !== null) query = query.where('park_id', 'in', filter.parkIds.length > 0 ? filter.parkIds : ['']);
  if (filter.deliveryIds) query = query.where('delivery_id', 'in', filter.deliveryIds.length > 0 ? filter.deliveryIds : ['00000000-0000-0000-0000-000000000000']);
  const dead = await query.execute();
  for (const delivery of dead) {
    const updates = ((delivery.payload as { updates?: Array<{ unitTypeId: string; from: string; to: string }> }).updates ?? []);
    const nights = updates.flatMap((update) =>
      Array.from({ length: daysBetween(update.from, update.to) + 1 }, (_, offset) => ({
        unitTypeId: update.unitTypeId,
        date: addDays(update.from, offset),
      })),
    );
    await markDirtyForConnection(db, { parkId: delivery.park_id, channel: delivery.channel, kind: delivery.kind }, nights);
    await db.updateTable('outbound_deliveries').set({ state: 'redriven', updated_at: new Date() }).where('delivery_id', '=', delivery.delivery_id).execute();
  }
  return dead.map((delivery) => delivery.delivery_id);
}
