import { sql } from 'kysely';
import type { Executor } from '../audit/audit.ts';
import type { ConnectionRow } from '../db/schema.ts';

/**
 * The outbox as named statements: claim, deliver, retry, dead-letter,
 * release and redrive. Every settle statement checks the lease owner, so a
 * worker whose lease ran out (and was taken over) cannot overwrite the result.
 */

export interface ClaimedDelivery {
  delivery_id: string;
  park_id: string;
  channel: string;
  kind: 'availability' | 'rates';
  version: number;
  payload: unknown;
  attempts: number;
  cells: number;
  created_at: Date;
}

/** Claims due deliveries of running connections, and in-flight ones whose lease expired (their worker died). */
export async function claimDue(db: Executor, owner: string, now: Date, leaseMs: number, limit: number): Promise<ClaimedDelivery[]> {
  const leaseUntil = new Date(now.getTime() + leaseMs);
  const claimed = await sql<ClaimedDelivery>`
    update outbound_deliveries d
    set state = 'in_flight', lease_owner = ${owner}, lease_until = ${leaseUntil}, attempts = d.attempts + 1, updated_at = ${now}
    where d.delivery_id in (
      select o.delivery_id
      from outbound_deliveries o
      join connections c on c.park_id = o.park_id and c.channel = o.channel
      where c.enabled and not c.paused
        and ((o.state = 'pending' and o.next_attempt_at <= ${now}) or (o.state = 'in_flight' and o.lease_until < ${now}))
      order by o.next_attempt_at
      limit ${limit}
      for update of o skip locked)
    returning d.delivery_id, d.park_id, d.channel, d.kind, d.version, d.payload, d.attempts, d.cells, d.created_at
  `.execute(db);
  return claimed.rows;
}

function owned(delivery: { delivery_id: string }, owner: string) {
  return sql`delivery_id = ${delivery.delivery_id} and lease_owner = ${owner} and state = 'in_flight'`;
}

export async function markDelivered(db: Executor, delivery: ClaimedDelivery, owner: string, httpStatus: number, now: Date): Promise<boolean> {
  const result = await sql`
    update outbound_deliveries
    set state = 'delivered', lease_owner = null, lease_until = null, last_http_status = ${httpStatus},
        last_error = null, delivered_at = ${now}, updated_at = ${now}
    where ${owned(delivery, owner)}
  `.execute(db);
  return Number(result.numAffectedRows ?? 0) === 1;
}

/** Schedules another attempt after `waitMs`, keeping the error for the dead-letter queue. */
export async function scheduleRetry(
  db: Executor,
  delivery: ClaimedDelivery,
  owner: string,
  failure: { error: string; httpStatus: number | null },
  nextAttemptAt: Date,
  now: Date,
): Promise<boolean> {
  const result = await sql`
    update outbound_deliveries
    set state = 'pending', lease_owner = null, lease_until = null, next_attempt_at = ${nextAttemptAt},
        last_error = ${failure.error}, last_http_status = ${failure.httpStatus}, updated_at = ${now}
    where ${owned(delivery, owner)}
  `.execute(db);
  return Number(result.numAffectedRows ?? 0) === 1;
}

export async function markDead(
  db: Executor,
  delivery: ClaimedDelivery,
  owner: string,
  failure: { error: string; httpStatus: number | null },
  now: Date,
): Promise<boolean> {
  const result = await sql`
    update outbound_deliveries
    set state = 'dead', lease_owner = null, lease_until = null, last_error = ${failure.error},
        last_http_status = ${failure.httpStatus}, updated_at = ${now}
    where ${owned(delivery, owner)}
  `.execute(db);
  return Number(result.numAffectedRows ?? 0) === 1;
}

/** Puts a claimed delivery back without counting the attempt, such as when the outbound rate limit is spent. */
export async function deferWithoutAttempt(db: Executor, delivery: ClaimedDelivery, owner: string, nextAttemptAt: Date, now: Date): Promise<void> {
  await sql`
    update outbound_deliveries
    set state = 'pending', lease_owner = null, lease_until = null, attempts = greatest(0, attempts - 1),
        next_attempt_at = ${nextAttemptAt}, updated_at = ${now}
    where ${owned(delivery, owner)}
  `.execute(db);
}

/** Hands back every delivery this worker holds, at shutdown, so another worker takes them at once. */
export async function releaseOwned(db: Executor, owner: string, now: Date): Promise<number> {
  const result = await sql`
    update outbound_deliveries
    set state = 'pending', lease_owner = null, lease_until = null, next_attempt_at = ${now}, updated_at = ${now}
    where lease_owner = ${owner} and state = 'in_flight'
  `.execute(db);
  return Number(result.numAffectedRows ?? 0);
}

export async function loadConnection(db: Executor, parkId: string, channel: string): Promise<ConnectionRow | undefined> {
  return db.selectFrom('connections').selectAll().where('park_id', '=', parkId).where('channel', '=', channel).executeTakeFirst();
}
