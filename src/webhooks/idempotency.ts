import { createHash } from 'node:crypto';
import { sql, type RawBuilder } from 'kysely';
import type { Executor } from '../audit/audit.ts';
import { countSyncEvent, syncEventRow, type SyncEvent } from '../observability/sync-events.ts';

/** The assignments that take over a claimed key's row; the one-statement apply (one-statement-sql.ts) uses them too. */
export const KEY_TAKEOVER_ASSIGNMENTS = `set park_id = excluded.park_id, fingerprint = excluded.fingerprint, state = excluded.state,
          response_status = excluded.response_status, response_body = excluded.response_body,
          locked_until = excluded.locked_until, expires_at = excluded.expires_at, created_at = excluded.created_at`;

/** How long a key and its stored response live. */
export const IDEMPOTENCY_TTL_MS = 72 * 3600 * 1000;
/** How long a request may hold its key while running; a crashed holder's key is taken over after this. */
export const IDEMPOTENCY_LOCK_MS = 60 * 1000;
export const MAX_KEY_LENGTH = 255;

export function fingerprintBody(raw: Buffer): string {
  return createHash('sha256').update(raw).digest('hex');
}

export interface KeyScope {
  channel: string;
  /** The endpoint the key belongs to, such as "availability". */
  endpoint: string;
  key: string;
  parkId: string;
}

export type ClaimResult =
  | { state: 'claimed' }
  | { state: 'replay'; status: number; body: unknown }
  | { state: 'mismatch' }
  | { state: 'in_progress'; retryAfterSeconds: number };

/** The stored row of a key that this request could not claim. */
export interface ExistingKey {
  fingerprint: string;
  state: string;
  response_status: number | null;
  response_body: unknown;
  locked_until: Date | null;
}

/**
 * Builds the statement that claims an Idempotency-Key for this request,
 * returning one row when it did. A key whose holder crashed (lock expired) or
 * whose life ended is taken over. It can run as a common table expression of
 * a larger statement; `when` gates the claim, such as "a rate-limit token
 * was taken". The one-statement availability apply stores its key completed
 * with its own text (one-statement-sql.ts), under the same takeover rule.
 */
export function claimKeyStatement(scope: KeyScope, fingerprint: string, now: Date, when: RawBuilder<boolean> = sql`true`) {
  const lockedUntil = new Date(now.getTime() + IDEMPOTENCY_LOCK_MS);
  const expiresAt = new Date(now.getTime() + IDEMPOTENCY_TTL_MS);
  return sql<{ state: string }>`
    insert into idempotency_keys as k (channel, endpoint, idempotency_key, park_id, fingerprint, state,
      response_status, response_body, locked_until, expires_at, created_at)
    select ${scope.channel}, ${scope.endpoint}, ${scope.key}, ${scope.parkId}, ${fingerprint}, 'running',
      null, null, ${lockedUntil}::timestamptz, ${expiresAt}::timestamptz, ${now}::timestamptz
    where ${when}
    on conflict (channel, endpoint, idempotency_key) do update
      ${sql.raw(KEY_TAKEOVER_ASSIGNMENTS)}
      where k.expires_at <= ${now}
         or (k.state = 'running' and k.locked_until <= ${now} and k.fingerprint = excluded.fingerprint)
    returning k.state`;
}

/** Returns what a key that could not be claimed means for this request. */
export function unclaimedResult(existing: ExistingKey, fingerprint: string, now: Date): ClaimResult {
  if (existing.fingerprint !== fingerprint) return { state: 'mismatch' };
  if (existing.state === 'completed' && existing.response_status !== null) {
    return { state: 'replay', status: existing.response_status, body: existing.response_body };
  }
  const waitMs = existing.locked_until ? existing.locked_until.getTime() - now.getTime() : 1000;
  return { state: 'in_progress', retryAfterSeconds: Math.max(1, Math.min(60, Math.ceil(waitMs / 1000))) };
}

/** Reads the key's row as it is now, for a claim that lost to a request its statement could not see. */
export async function readKey(db: Executor, scope: KeyScope): Promise<ExistingKey | undefined> {
  return db
    .selectFrom('idempotency_keys')
    .select(['fingerprint', 'state', 'response_status', 'response_body', 'locked_until'])
    .where('channel', '=', scope.channel)
    .where('endpoint', '=', scope.endpoint)
    .where('idempotency_key', '=', scope.key)
    .executeTakeFirst();
}

/**
 * Stores the final response together with the request's event row, in one
 * statement; call it in the transaction that applies the request.
 */
export async function completeKey(db: Executor, scope: KeyScope, status: number, body: unknown, event: SyncEvent): Promise<void> {
  countSyncEvent(event);
  await db
    .with('event', (query) => query.insertInto('channel_sync_events').values(syncEventRow(event)))
    .updateTable('idempotency_keys')
    .set({ state: 'completed', response_status: status, response_body: JSON.stringify(body), locked_until: null })
    .where('channel', '=', scope.channel)
    .where('endpoint', '=', scope.endpoint)
    .where('idempotency_key', '=', scope.key)
    .execute();
}

/** Forgets a claim after a fault, so the sender's retry is processed afresh. */
export async function releaseKey(db: Executor, scope: KeyScope): Promise<void> {
  await db
    .deleteFrom('idempotency_keys')
    .where('channel', '=', scope.channel)
    .where('endpoint', '=', scope.endpoint)
    .where('idempotency_key', '=', scope.key)
    .where('state', '=', 'running')
    .execute();
}
