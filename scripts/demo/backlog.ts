import { setTimeout as sleep } from 'node:timers/promises';
import type { AppContext } from '../../src/http/context.ts';

/** Maximum wait for the worker to send everything after one step, in milliseconds. */
export const BACKLOG_TIMEOUT_MS = 8_000;
const POLL_INTERVAL_MS = 50;

export interface BacklogState {
  /** Nights marked for delivery that no delivery covers yet. */
  dirtyNights: number;
  /** Deliveries waiting for an attempt, including those waiting to retry. */
  pending: number;
  inFlight: number;
  delivered: number;
  dead: number;
}

/** Reads the outbox straight from the database, since the demo runs in parksync's process. */
export async function readBacklog(ctx: AppContext): Promise<BacklogState> {
  const dirty = await ctx.db
    .selectFrom('outbound_dirty')
    .select((eb) => eb.fn.countAll<string>().as('count'))
    .executeTakeFirstOrThrow();
  const deliveries = await ctx.db
    .selectFrom('outbound_deliveries')
    .select(['state', (eb) => eb.fn.countAll<string>().as('count')])
    .groupBy('state')
    .execute();
  const countOf = (state: string) => Number(deliveries.find((row) => row.state === state)?.count ?? 0);
  return {
    dirtyNights: Number(dirty.count),
    pending: countOf('pending'),
    inFlight: countOf('in_flight'),
    delivered: countOf('delivered'),
    dead: countOf('dead'),
  };
}

/** Returns the last error of every dead delivery, for the failure message. */
async function deadErrors(ctx: AppContext): Promise<string[]> {
  const rows = await ctx.db
    .selectFrom('outbound_deliveries')
    .select(['channel', 'kind', 'last_error'])
    .where('state', '=', 'dead')
    .execute();
  return rows.map((row) => `${row.channel} ${row.kind}: ${row.last_error ?? 'no error stored'}`);
}

/**
 * Waits until no night is waiting to be sent and no delivery is pending or in
 * flight. Raises an error when a delivery went to the dead-letter queue, or
 * when the backlog is still there after `timeoutMs`.
 */
export async function waitForEmptyBacklog(ctx: AppContext, timeoutMs: number = BACKLOG_TIMEOUT_MS): Promise<BacklogState> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const state = await readBacklog(ctx);
    if (state.dead > 0) {
      throw new Error(`the dead-letter queue is not empty, so a channel missed a change: ${(await deadErrors(ctx)).join('; ')}`);
    }
    if (state.dirtyNights === 0 && state.pending === 0 && state.inFlight === 0) return state;
    if (Date.now() >= deadline) {
      throw new Error(
        `the outbound backlog was not empty after ${timeoutMs / 1000} s (nights waiting: ${state.dirtyNights}, ` +
          `deliveries pending: ${state.pending}, in flight: ${state.inFlight}). Check parksync's warnings above for failed deliveries.`,
      );
    }
    await sleep(POLL_INTERVAL_MS);
  }
}
