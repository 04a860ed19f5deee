import { sql, type Kysely } from 'kysely';
import type { Database } from '../db/schema.ts';
import type { Executor } from '../audit/audit.ts';
import { prepared } from '../db/prepared.ts';
import type { RateLimit } from '../channels/connections.ts';
import { rateLimitDecision, takeTokensStatement, type BucketId, type RateLimitDecision } from '../channels/rate-limit.ts';
import { targetStamp } from './target.ts';
import { claimKeyStatement, readKey, unclaimedResult, type ClaimResult, type ExistingKey, type KeyScope } from './idempotency.ts';

export interface Admission {
  rate: RateLimitDecision;
  /** The Idempotency-Key claim; null when the rate limit refused the request, so nothing was claimed. */
  claim: ClaimResult | null;
  /** The connection's targetStamp as the statement saw it; null when the connection is gone. */
  targetStamp: string | null;
}

interface AdmissionRow {
  taken: number;
  tokens: number;
  perSecond: number | null;
  burst: number | null;
  claimed: boolean;
  fingerprint: string | null;
  state: string | null;
  response_status: number | null;
  response_body: unknown;
  locked_until: Date | null;
  expires_at: Date | null;
  target_stamp: string | null;
}

/**
 * Runs steps 6 and 7 of the webhook checks in one statement: takes a
 * rateLimitIn token and, only when it got one, claims the Idempotency-Key.
 * It returns the key's stored row for a replay, and the target's stamp,
 * which shows whether a cached target is still current.
 *
 * The statement commits without waiting for its WAL flush. That is safe: the
 * request gets its 202 only after the transaction that applies it, which
 * commits synchronously and so flushes this earlier record too. A crash
 * before that loses a claim nobody was told about, and the sender's retry
 * claims the key afresh.
 */
export async function admitWebhook(
  /** Never a transaction: the statement turns off synchronous_commit for the transaction it runs in. */
  db: Kysely<Database>,
  bucket: BucketId,
  limit: RateLimit,
  scope: KeyScope,
  fingerprint: string,
  now: Date,
  /** A token this request already took, such as before a one-statement apply that rolled back; none is taken again. */
  taken: RateLimitDecision | null = null,
): Promise<Admission> {
  const take = taken
    ? sql`select 1 as taken, ${taken.remaining}::float8 as tokens, null::float8 as "perSecond", null::float8 as burst`
    : takeTokensStatement(bucket, 1, now);
  // NOTE: the token take locks the connection's bucket row until this statement commits, so a claim that waits
  // on a concurrent request with the same key holds up the admissions of that connection for as long.
  const result = await prepared(sql<AdmissionRow>`
    with taken as materialized (${take}),
    claimed as (${claimKeyStatement(scope, fingerprint, now, sql<boolean>`(select taken from taken) = 1`)})
    select taken.taken, taken.tokens, taken."perSecond", taken.burst,
      exists (select 1 from claimed) as claimed,
      e.fingerprint, e.state, e.response_status, e.response_body, e.locked_until, e.expires_at,
      ${targetStamp(bucket.parkId, bucket.channel)} as target_stamp,
      set_config('synchronous_commit', 'off', true) as commit_mode
    from taken
    left join idempotency_keys e
      on e.channel = ${scope.channel} and e.endpoint = ${scope.endpoint} and e.idempotency_key = ${scope.key}
  `).execute(db);
  const row = result.rows[0];
  if (!row) throw new Error('the admission statement returned no row');
  const rate = rateLimitDecision(limit, row);
  const stamp = row.target_stamp;
  if (!rate.allowed) return { rate, claim: null, targetStamp: stamp };
  if (row.claimed) return { rate, claim: { state: 'claimed' }, targetStamp: stamp };
  return { rate, claim: await unclaimed(db, row, scope, fingerprint, now), targetStamp: stamp };
}

/**
 * Explains a claim that lost to a stored key. The statement's own snapshot
 * shows that key unless another request wrote it meanwhile, so then the key
 * is read again.
 */
async function unclaimed(db: Executor, row: AdmissionRow, scope: KeyScope, fingerprint: string, now: Date): Promise<ClaimResult> {
  const seen = row.fingerprint !== null && row.state !== null && row.expires_at !== null && row.expires_at > now;
  const existing: ExistingKey | undefined = seen
    ? {
        fingerprint: row.fingerprint as string,
        state: row.state as string,
        response_status: row.response_status,
        response_body: row.response_body,
        locked_until: row.locked_until,
      }
    : await readKey(db, scope);
  // The row vanished between the two statements (expired and deleted): the sender may simply retry.
  return existing ? unclaimedResult(existing, fingerprint, now) : { state: 'in_progress', retryAfterSeconds: 1 };
}
