import { CompiledQuery } from 'kysely';
import type { Executor } from '../audit/audit.ts';
import { SQLSTATE, sqlState } from '../errors.ts';
import type { AvailabilityUpdate } from '../inventory/availability.ts';
import type { SyncEvent, SyncEventStatus } from '../observability/sync-events.ts';
import type { PreparedChange } from './apply.ts';
import type { KeyScope } from './idempotency.ts';
import { fieldMask, statementParameters, statementText } from './one-statement-sql.ts';

/** Most updates one statement applies; a larger request goes through the transaction path. */
const MAX_UPDATES = 50;

type AvailabilityChange = Extract<PreparedChange, { kind: 'availability' }>;

/**
 * Returns true when an availability change can be applied by one statement:
 * at most MAX_UPDATES updates and no two of them write the same night, since
 * one statement cannot write a row twice.
 */
export function fitsOneStatement(change: PreparedChange): change is AvailabilityChange {
  if (change.kind !== 'availability' || change.body.updates.length > MAX_UPDATES) return false;
  const byUnitType = new Map<string, AvailabilityUpdate[]>();
  for (const update of change.body.updates) {
    const ranges = byUnitType.get(update.unitTypeId) ?? [];
    if (ranges.some((range) => range.from <= update.to && update.from <= range.to)) return false;
    byUnitType.set(update.unitTypeId, [...ranges, update]);
  }
  return true;
}

export interface OneStatementInput {
  parkId: string;
  channel: string;
  change: AvailabilityChange;
  version: number;
  now: Date;
  scope: KeyScope;
  fingerprint: string;
  /** The stamp of a cached webhook target, checked in the statement; null for a target read for this request. */
  cachedStamp: string | null;
  /** The request's event row; the statement fills in its status and detail. */
  event: SyncEvent & { eventId: string };
}

/**
 * The result of the statement: applied, or why the request must take the
 * general path instead: the key is already stored or the version was refused
 * (`fallback`), or the cached target is out of date (`stale_target`).
 */
export type OneStatementOutcome =
  | { kind: 'applied'; status: SyncEventStatus; body: Record<string, unknown> }
  | { kind: 'fallback'; reason: 'key_stored' | 'version_refused' | 'retry' }
  | { kind: 'stale_target' };

const FALLBACKS: Record<string, OneStatementOutcome> = {
  [SQLSTATE.versionRefused]: { kind: 'fallback', reason: 'version_refused' },
  [SQLSTATE.keyStored]: { kind: 'fallback', reason: 'key_stored' },
  [SQLSTATE.deadlockDetected]: { kind: 'fallback', reason: 'retry' },
  [SQLSTATE.serializationFailure]: { kind: 'fallback', reason: 'retry' },
  [SQLSTATE.targetChanged]: { kind: 'stale_target' },
};

/**
 * Applies an availability webhook in one statement, and so one round trip
 * and one commit: the X-Version rows, every update with its dirty marks, the
 * event row, and the Idempotency-Key stored with its response. The response
 * and the event detail are built in SQL in the same shape as the transaction
 * path. A refused version, a key that is already stored or a changed cached
 * target raises inside the statement (parksync_check), so nothing is kept.
 */
export async function applyInOneStatement(db: Executor, input: OneStatementInput): Promise<OneStatementOutcome> {
  const updates = input.change.body.updates;
  const masks = updates.map(fieldMask);
  const text = statementText([...new Set(masks)].sort((a, b) => a - b));
  const parameters = statementParameters({ ...input, entityKeys: input.change.entityKeys, updates, masks });
  try {
    const result = await db.executeQuery<{ status: SyncEventStatus; body: Record<string, unknown> }>(CompiledQuery.raw(text, parameters));
    const row = result.rows[0];
    if (!row) throw new Error('the availability statement returned no outcome');
    const { eventId, status, ...rest } = row.body;
    return { kind: 'applied', status: row.status, body: { eventId, status, ...rest } };
  } catch (error) {
    const fallback = FALLBACKS[sqlState(error) ?? ''];
    if (fallback) return fallback;
    throw error;
  }
}
