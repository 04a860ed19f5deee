import type { Transaction } from 'kysely';
import type { Database, ParkRow } from '../db/schema.ts';
import { validationError } from '../errors.ts';
import { addDays, daysBetween, todayIn } from '../lib/dates.ts';
import { applyAvailability, checkAvailabilityUpdates } from '../inventory/availability.ts';
import { applyRates, parseRateUpdates, type ParsedRateUpdate } from '../inventory/rates.ts';
import { applyReservation, checkReservation } from '../inventory/reservations.ts';
import type { SyncEventStatus } from '../observability/sync-events.ts';
import type { WebhookBody } from './bodies.ts';

/** Most (unit type, night) cells one request may touch; a full sync of 20 unit types over 500 days is 10,000. */
export const MAX_CELLS_PER_REQUEST = 40_000;

/** A webhook body that passed every check and is ready to apply. */
export type PreparedChange =
  | { kind: 'availability'; body: Extract<WebhookBody, { kind: 'availability' }>['body']; entityKeys: string[] }
  | { kind: 'rates'; updates: ParsedRateUpdate[]; entityKeys: string[] }
  | {
      kind: 'reservations';
      body: Extract<WebhookBody, { kind: 'reservations' }>['body'];
      totalMinor: number | null;
      entityKeys: string[];
    };

export interface ApplyOutcome {
  status: SyncEventStatus;
  response: Record<string, unknown>;
  detail: Record<string, unknown>;
}

function nightKeys(unitTypeId: string, from: string, to: string): string[] {
  return Array.from({ length: daysBetween(from, to) + 1 }, (_, index) => `${unitTypeId}/${addDays(from, index)}`);
}

function checkCellCount(ranges: ReadonlyArray<{ from: string; to: string }>): void {
  const cells = ranges.reduce((sum, range) => sum + daysBetween(range.from, range.to) + 1, 0);
  if (cells > MAX_CELLS_PER_REQUEST) {
    throw validationError([
      { field: 'updates', message: `the request covers ${cells} unit-type nights; split it into requests of at most ${MAX_CELLS_PER_REQUEST}` },
    ]);
  }
}

/** Runs the checks that need the park (dates in its timezone, unit types, currency) and lists the versioned entities. */
export function prepareChange(body: WebhookBody, park: ParkRow, unitTypeIds: ReadonlySet<string>, now: Date): PreparedChange {
  const today = todayIn(park.timezone, now);
  switch (body.kind) {
    case 'availability': {
      checkAvailabilityUpdates(body.body.updates, unitTypeIds, today);
      checkCellCount(body.body.updates);
      const entityKeys = body.body.updates.flatMap((update) => nightKeys(update.unitTypeId, update.from, update.to));
      return { kind: 'availability', body: body.body, entityKeys };
    }
    case 'rates': {
      const updates = parseRateUpdates(body.body, park, unitTypeIds, today);
      checkCellCount(updates);
      const entityKeys = updates.flatMap((update) => nightKeys(update.unitTypeId, update.from, update.to));
      return { kind: 'rates', updates, entityKeys };
    }
    case 'reservations': {
      const totalMinor = checkReservation(body.body, unitTypeIds, park.currency, today);
      return { kind: 'reservations', body: body.body, totalMinor, entityKeys: [body.body.reservationId] };
    }
  }
}

/** Applies a prepared change in the caller's transaction, with dirty marks for every other connection. */
export async function applyChange(
  trx: Transaction<Database>,
  change: PreparedChange,
  park: ParkRow,
  channel: string,
  now: Date,
): Promise<ApplyOutcome> {
  const options = { sourceChannel: channel, now };
  switch (change.kind) {
    case 'availability': {
      const result = await applyAvailability(trx, park.park_id, change.body.updates, options);
      const conflicts = result.conflicts.length;
      return {
        status: conflicts > 0 ? 'conflict' : 'applied',
        response: conflicts > 0 ? { conflicts: result.conflicts } : {},
        detail: { updates: change.body.updates.length, nights: result.nights, conflicts, conflictNights: result.conflicts.slice(0, 20) },
      };
    }
    case 'rates': {
      const result = await applyRates(trx, park.park_id, change.updates, options);
      return { status: 'applied', response: {}, detail: { updates: change.updates.length, nights: result.nights } };
    }
    case 'reservations': {
      const result = await applyReservation(trx, park.park_id, channel, change.body, change.totalMinor, {
        ...options,
        currency: park.currency,
      });
      return {
        status: 'applied',
        response: { outcome: result.outcome },
        detail: { reservationId: change.body.reservationId, outcome: result.outcome, reservationStatus: change.body.status },
      };
    }
  }
}
