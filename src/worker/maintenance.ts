import { sql } from 'kysely';
import type { AppContext } from '../http/context.ts';
import { acquireLease } from './leases.ts';

/** Days of channel_sync_events partitions kept ready ahead of today, so rows never land in the default partition. */
export const PARTITION_DAYS_AHEAD = 7;

export async function ensureEventPartitions(ctx: Pick<AppContext, 'db' | 'clock'>): Promise<number> {
  const today = ctx.clock.now().toISOString().slice(0, 10);
  const result = await sql<{ created: number }>`
    select channel_sync_events_ensure_partitions(${today}::date - 1, ${PARTITION_DAYS_AHEAD + 2}) as created
  `.execute(ctx.db);
  return result.rows[0]?.created ?? 0;
}

/** Deletes idempotency keys past their 72-hour life. */
export async function expireIdempotencyKeys(ctx: Pick<AppContext, 'db' | 'clock'>): Promise<number> {
  const result = await ctx.db.deleteFrom('idempotency_keys').where('expires_at', '<', ctx.clock.now()).executeTakeFirst();
  return Number(result.numDeletedRows);
}

/** One maintenance pass; only the process holding the "maintenance" lease runs it. */
export async function runMaintenance(ctx: AppContext): Promise<void> {
  const held = await acquireLease(ctx.db, 'maintenance', ctx.config.instanceId, 120, ctx.clock.now());
  if (!held) return;
  const partitionsCreated = await ensureEventPartitions(ctx);
  const keysExpired = await expireIdempotencyKeys(ctx);
  if (partitionsCreated > 0 || keysExpired > 0) {
    ctx.logger.info({ partitionsCreated, keysExpired }, 'maintenance pass done');
  }
}
