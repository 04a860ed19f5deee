import { sql, type RawBuilder } from 'kysely';
import type { Executor } from '../audit/audit.ts';
import type { RateLimit } from './connections.ts';

export interface RateLimitDecision {
  allowed: boolean;
  /** Whole tokens left after this request. */
  remaining: number;
  /** Seconds until one token is available again; 0 when allowed. */
  retryAfterSeconds: number;
}

export interface BucketId {
  parkId: string;
  channel: string;
  direction: 'in' | 'out';
}

/** The result of one call to parksync_take_tokens, with the limit it applied (null when the connection is gone). */
export interface TokenTake {
  taken: number;
  tokens: number;
  perSecond: number | null;
  burst: number | null;
}

/**
 * Builds the call that gives back `returned` unspent tokens and takes up to
 * `want` from the bucket (parksync_take_tokens, migrations/0009), at the
 * connection's current limit. It returns one row and can run as a common
 * table expression of a larger statement.
 */
export function takeTokensStatement(bucket: BucketId, want: number, now: Date, returned = 0): RawBuilder<TokenTake> {
  return sql<TokenTake>`
    select taken, tokens, per_second as "perSecond", burst
    from parksync_take_tokens(${bucket.parkId}, ${bucket.channel}, ${bucket.direction}, ${want}::integer, ${returned}::integer, ${now}::timestamptz)`;
}

/** Turns a take of one token into a decision, using `limit` when the take found no connection. */
export function rateLimitDecision(limit: RateLimit, take: TokenTake): RateLimitDecision {
  if (take.taken >= 1) return { allowed: true, remaining: Math.max(0, Math.floor(take.tokens)), retryAfterSeconds: 0 };
  const perSecond = take.perSecond ?? limit.perSecond;
  return { allowed: false, remaining: 0, retryAfterSeconds: Math.max(1, Math.ceil((1 - take.tokens) / perSecond)) };
}

/** Gives back `returned` unspent tokens, takes up to `want` tokens, and returns how many it got and how many are left. */
export async function takeTokens(db: Executor, bucket: BucketId, want: number, now: Date, returned = 0): Promise<TokenTake> {
  const result = await takeTokensStatement(bucket, want, now, returned).execute(db);
  const row = result.rows[0];
  if (!row) throw new Error('parksync_take_tokens returned no row');
  return row;
}

/**
 * Takes one token from the connection's bucket for `direction`. The bucket
 * refills at perSecond up to burst, and lives in the database so the limit
 * applies across every process. A limit changed in the connection settings
 * applies from the next call.
 */
export async function takeToken(db: Executor, bucket: BucketId, limit: RateLimit, now: Date): Promise<RateLimitDecision> {
  return rateLimitDecision(limit, await takeTokens(db, bucket, 1, now));
}
