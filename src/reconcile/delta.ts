import { decodeCursor, type ChangePosition } from '../pull/cursor.ts';
import { readAvailabilityChanges, readRateChanges } from '../pull/queries.ts';
import type { ConnectionRow, ParkRow } from '../db/schema.ts';
import type { AppContext } from '../http/context.ts';
import { adapterFor } from '../channels/adapters/index.ts';
import { compareAvailability, compareRates } from './compare.ts';

/** Feed rows compared per step. */
const PAGE_SIZE = 1000;
const VIEW_TIMEOUT_MS = 15_000;

/**
 * Reads the change-feed position a delta starts from. The cursor is one the
 * channel got from the availability pull endpoint (or one the scheduler kept);
 * positions are shared by the availability and rates feeds, so one cursor
 * covers both. Returns undefined when it is not a change cursor of this park
 * and channel.
 */
export function deltaStart(cursor: string, parkId: string, channel: string): ChangePosition | undefined {
  const decoded = decodeCursor(cursor, { kind: 'availability', parkId, channel });
  return decoded.ok && decoded.cursor.mode === 'changes' ? decoded.cursor.position : undefined;
}

export interface DeltaStep {
  checked: number;
  drifts: ReturnType<typeof compareAvailability>;
}

/** The date window a page of nights spans, for one read of the channel's view. */
function spanOf(dates: readonly string[]): { from: string; to: string } {
  const sorted = [...dates].sort();
  return { from: sorted[0] ?? '', to: sorted.at(-1) ?? '' };
}

/**
 * Compares only the nights changed since `start`, a page of the feed at a
 * time, and hands each page's drifts to `onStep`. Memory stays bounded by
 * one page, however much changed.
 */
export async function reconcileChanges(
  ctx: AppContext,
  connection: ConnectionRow,
  park: ParkRow,
  start: ChangePosition,
  onStep: (step: DeltaStep) => Promise<void>,
): Promise<void> {
  const adapter = adapterFor(connection.adapter);
  for (const feed of ['availability', 'rates'] as const) {
    let position = start;
    for (;;) {
      const page =
        feed === 'availability'
          ? await readAvailabilityChanges(ctx.db, park.park_id, position, PAGE_SIZE)
          : await readRateChanges(ctx.db, park, position, PAGE_SIZE);
      if (page.items.length === 0 || !page.last) break;
      const theirs = await adapter.readView(connection, spanOf(page.items.map((item) => item.date)), VIEW_TIMEOUT_MS);
      const drifts =
        feed === 'availability'
          ? compareAvailability(page.items as Parameters<typeof compareAvailability>[0], theirs.availability)
          : compareRates(page.items as Parameters<typeof compareRates>[0], theirs.rates);
      await onStep({ checked: page.items.length, drifts });
      position = page.last;
      if (page.items.length < PAGE_SIZE) break;
    }
  }
}
