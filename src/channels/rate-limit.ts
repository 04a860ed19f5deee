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

/** Computes the tokens of bucket row `b` refilled up to `now`, capped at the burst. */
function refilled(limit: RateLimit, now: Date): RawBuilder<number> {
  return sql<number>`least(${limit.burst}::float8, b.tokens + greatest(0, extract(epoch from (${now}::timestamptz - b.refreshed_at))) * ${limit.perSecond}::float8)`;
}

/**
 * Builds the statement that refills the bucket and takes one token, returning the
 * tokens left, or no row when the bucket is empty. It is one statement so
 * concurrent callers cannot spend the same token; it can run as a
 * common table expression of a larger statement.
 */
export function takeTokenStatement(bucket: BucketId, limit: RateLimit, now: Date): RawBuilder<{ tokens: number }> {
  const refill = refilled(limit, now);
  return sql<{ tokens: number }>`
    insert into rate_limit_buckets as b (park_id, channel, direction, tokens, refreshed_at)
    values (${bucket.parkId}, ${bucket.channel}, ${bucket.direction}, ${limit.burst - 1}::float8, ${now})
    on conflict (park_id, channel, direction) do update
      set tokens = ${refill} - 1, refreshed_at = greatest(b.refreshed_at, ${now}::timestamptz)
      where ${refill} >= 1
    returning b.tokens`;
}

/** Builds an expression for the bucket's tokens at `now`, as the statement's snapshot saw them; null when it has no row. */
export function currentTokensExpression(bucket: BucketId, limit: RateLimit, now: Date): RawBuilder<number | null> {
  return sql<number | null>`(select ${refilled(limit, now)} from rate_limit_buckets b
    where b.park_id = ${bucket.parkId} and b.channel = ${bucket.channel} and b.direction = ${bucket.direction})`;
}

/** Turns what the take returned (tokens left, or the tokens there were when it was refused) into a decision. */
export function rateLimitDecision(limit: RateLimit, taken: number | null, tokensBefore: number | null): RateLimitDecision {
  if (taken !== null) return { allowed: true, remaining: Math.max(0, Math.floor(taken)), retryAfterSeconds: 0 };
  const tokens = tokensBefore ?? 0;
  return { allowed: false, remaining: 0, retryAfterSeconds: Math.max(1, Math.ceil((1 - tokens) / limit.perSecond)) };
}

/**
 * Takes one token from the connection's bucket for `direction`. The bucket
 * refills at perSecond up to burst, and lives in the database so the limit
 * applies across every process. A limit changed in the connection settings
 * applies from the next call.
 */
export async function takeToken(db: Executor, bucket: BucketId, limit: RateLimit, now: Date): Promise<RateLimitDecision> {
  const taken = await sql<{ taken: number | null; tokens_before: number | null }>`
    with taken as (${takeTokenStatement(bucket, limit, now)})
    select (select tokens from taken) as taken, ${currentTokensExpression(bucket, limit, now)} as tokens_before
  `.execute(db);
  const row = taken.rows[0];
  return rateLimitDecision(limit, row?.taken ?? null, row?.tokens_before ?? null);
}
