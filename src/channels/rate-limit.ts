import { sql } from 'kysely';
import type { Executor } from '../audit/audit.ts';
import type { RateLimit } from './connections.ts';

export interface RateLimitDecision {
  allowed: boolean;
  /** Whole tokens left after this request. */
  remaining: number;
  /** Seconds until one token is available again; 0 when allowed. */
  retryAfterSeconds: number;
}

/**
 * Takes one token from the connection's bucket for `direction`. The bucket
 * refills at perSecond up to burst, and lives in the database so the limit
 * holds across every process. A single statement both refills and takes, so
 * concurrent callers cannot spend the same token. A limit changed in the
 * connection settings applies from the next call.
 */
export async function takeToken(
  db: Executor,
  bucket: { parkId: string; channel: string; direction: 'in' | 'out' },
  limit: RateLimit,
  now: Date,
): Promise<RateLimitDecision> {
  const refill = sql<number>`least(${limit.burst}::float8, b.tokens + greatest(0, extract(epoch from (${now}::timestamptz - b.refreshed_at))) * ${limit.perSecond}::float8)`;
  const taken = await sql<{ tokens: number }>`
    insert into rate_limit_buckets as b (park_id, channel, direction, tokens, refreshed_at)
    values (${bucket.parkId}, ${bucket.channel}, ${bucket.direction}, ${limit.burst - 1}::float8, ${now})
    on conflict (park_id, channel, direction) do update
      set tokens = ${refill} - 1, refreshed_at = greatest(b.refreshed_at, ${now}::timestamptz)
      where ${refill} >= 1
    returning b.tokens
  `.execute(db);
  const row = taken.rows[0];
  if (row) return { allowed: true, remaining: Math.max(0, Math.floor(row.tokens)), retryAfterSeconds: 0 };

  const current = await sql<{ tokens: number }>`
    select ${refill} as tokens from rate_limit_buckets b
    where b.park_id = ${bucket.parkId} and b.channel = ${bucket.channel} and b.direction = ${bucket.direction}
  `.execute(db);
  const tokens = current.rows[0]?.tokens ?? 0;
  return { allowed: false, remaining: 0, retryAfterSeconds: Math.max(1, Math.ceil((1 - tokens) / limit.perSecond)) };
}
