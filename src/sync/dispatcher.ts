import { sql } from 'kysely';
import type { AppContext } from '../http/context.ts';
import { outboundBacklog, outboundOldestAge } from '../observability/metrics.ts';
import { deliver } from './deliver.ts';
import { claimDue, releaseOwned } from './outbox.ts';
import { planDeliveries, type PlanGroup } from './planner.ts';

/**
 * Minimum time, in milliseconds, between two deliveries one dispatcher plans
 * for the same connection and kind. Without it a channel that answers fast
 * gets one delivery per round trip while changes keep coming, and each one
 * counts against its rate limit. The first change after a quiet spell still
 * goes out at once.
 */
export const DEFAULT_COALESCE_MS = 250;

export interface DispatcherOptions {
  /** Pause between passes when there was nothing to do, in milliseconds. */
  idleMs?: number;
  /** Deliveries sent at once by this process. */
  concurrency?: number;
  /** Minimum time between two deliveries this process plans for one connection and kind, in milliseconds. 0 turns it off. */
  coalesceMs?: number;
}

export interface Dispatcher {
  /** Runs one plan-and-send pass and waits for its sends, without the coalescing wait; for tests and scripts. */
  runOnce(): Promise<number>;
  stop(): Promise<void>;
}

/** Refreshes the backlog gauges: open deliveries plus dirty nights, and the age of the oldest. */
export async function refreshBacklogMetrics(ctx: AppContext): Promise<void> {
  const rows = await sql<{ park_id: string; channel: string; backlog: number; oldest: Date | null }>`
    select park_id, channel, sum(backlog)::int as backlog, min(oldest) as oldest from (
      select park_id, channel, count(*) as backlog, min(marked_at) as oldest from outbound_dirty group by park_id, channel
      union all
      select park_id, channel, count(*), min(created_at) from outbound_deliveries
      where state in ('pending', 'in_flight') group by park_id, channel
    ) as waiting group by park_id, channel
  `.execute(ctx.db);
  outboundBacklog.reset();
  outboundOldestAge.reset();
  const now = ctx.clock.now().getTime();
  for (const row of rows.rows) {
    const labels = { park_id: row.park_id, channel: row.channel };
    outboundBacklog.set(labels, row.backlog);
    if (row.oldest) outboundOldestAge.set(labels, Math.max(0, (now - new Date(row.oldest).getTime()) / 1000));
  }
}

/**
 * The outbound loop of a worker: plan deliveries from dirty nights, claim the
 * due ones, send them with bounded concurrency, repeat. It keeps going while
 * there is work and sleeps `idleMs` when there is none. This process plans
 * each connection and kind at most once per `coalesceMs`, so a burst of
 * changes shares a few deliveries.
 */
export function startDispatcher(ctx: AppContext, options: DispatcherOptions = {}): Dispatcher {
  const idleMs = options.idleMs ?? 200;
  const concurrency = options.concurrency ?? ctx.config.deliveryConcurrency;
  const coalesceMs = options.coalesceMs ?? DEFAULT_COALESCE_MS;
  const owner = ctx.config.instanceId;
  const log = ctx.logger.child({ component: 'dispatcher', instanceId: owner });
  const sending = new Set<Promise<void>>();
  // Groups this process planned lately, with the clock time in ms when each may be planned again.
  // NOTE: kept in memory, so with N workers a connection can get up to N deliveries per coalesceMs.
  const resting = new Map<string, { group: PlanGroup; until: number }>();
  let running = true;
  let timer: NodeJS.Timeout | undefined;
  let wake: (() => void) | undefined;

  const plan = async (coalesce: boolean): Promise<void> => {
    if (!coalesce || coalesceMs <= 0) {
      await planDeliveries(ctx);
      return;
    }
    const now = ctx.clock.now().getTime();
    for (const [key, rest] of resting) if (rest.until <= now) resting.delete(key);
    const planned = await planDeliveries(ctx, [...resting.values()].map((rest) => rest.group));
    for (const group of planned) {
      resting.set(`${group.park_id}/${group.channel}/${group.kind}`, { group, until: now + coalesceMs });
    }
  };

  /**
   * Returns how long an idle loop waits: idleMs, or less when a resting group's
   * window ends sooner, so changes that arrived during the window go out as
   * soon as it ends instead of up to idleMs later.
   */
  const untilNextPass = (): number => {
    const now = ctx.clock.now().getTime();
    let waitMs = idleMs;
    for (const rest of resting.values()) waitMs = Math.min(waitMs, rest.until - now);
    return Math.max(1, waitMs);
  };

  const pass = async (coalesce: boolean): Promise<number> => {
    await plan(coalesce);
    const free = concurrency - sending.size;
    if (free <= 0) return 0;
    const claimed = await claimDue(ctx.db, owner, ctx.clock.now(), ctx.config.deliveryLeaseSeconds * 1000, free);
    for (const delivery of claimed) {
      const send = deliver(ctx, delivery, owner)
        .catch((error: unknown) => log.error({ err: error, deliveryId: delivery.delivery_id }, 'delivery crashed; its lease will expire and it is retried'))
        .finally(() => {
          sending.delete(send);
          wake?.();
        });
      sending.add(send);
    }
    return claimed.length;
  };

  const loop = async () => {
    // Consecutive failed passes (the database is down, say): the wait doubles up to 5 s and one line is logged per failure.
    let failures = 0;
    while (running) {
      let claimed = 0;
      try {
        claimed = await pass(true);
        failures = 0;
      } catch (error) {
        failures += 1;
        log.error({ err: error, failures }, 'dispatcher pass failed; trying again shortly');
      }
      if (!running) break;
      if (claimed === 0 || sending.size >= concurrency || failures > 0) {
        const waitMs = failures > 0 ? Math.min(5_000, idleMs * 2 ** failures) : untilNextPass();
        await new Promise<void>((resolve) => {
          wake = resolve;
          timer = setTimeout(resolve, waitMs);
        });
        wake = undefined;
      }
    }
  };
  const looping = options.idleMs === Infinity ? Promise.resolve() : loop();

  return {
    async runOnce() {
      const claimed = await pass(false);
      await Promise.allSettled([...sending]);
      return claimed;
    },
    async stop() {
      running = false;
      if (timer) clearTimeout(timer);
      wake?.();
      await looping;
      await Promise.allSettled([...sending]);
      const released = await releaseOwned(ctx.db, owner, ctx.clock.now()).catch(() => 0);
      log.info({ released }, 'dispatcher stopped');
    },
  };
}
