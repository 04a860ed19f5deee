import type { Executor } from '../audit/audit.ts';
import type { RateLimit } from './connections.ts';
import { rateLimitDecision, takeTokens, type BucketId, type RateLimitDecision } from './rate-limit.ts';

/** How long leased tokens may be spent; older ones are dropped, so a lease never outlasts a second of the limit. */
const LEASE_MS = 1000;
/** Most leases a process keeps; past this the oldest is dropped. */
const MAX_LEASES = 10_000;

interface Lease {
  tokens: number;
  /** Tokens the database bucket had left when this lease was taken. */
  bucketLeft: number;
  expiresAt: number;
}

/**
 * Returns how many tokens one lease takes: a tenth of a second of the rate
 * and at most a quarter of the burst, so a process holds back little of the
 * limit from the others. Small limits lease one token, which is a database
 * round trip per request, exactly as without leases.
 */
export function leaseSize(limit: RateLimit): number {
  return Math.max(1, Math.min(Math.floor(limit.burst / 4), Math.floor(limit.perSecond / 10)));
}

/**
 * Tokens this process took from the database buckets ahead of use. The
 * bucket in the database stays the one limit for every process. When the
 * limit is high, a process takes several tokens in one call and spends them
 * without a round trip each, and gives back what it did not spend when it
 * takes the next lease. A changed limit starts a new lease.
 */
export class TokenLeases {
  readonly #leases = new Map<string, Lease>();
  /** Lease takes in progress; concurrent requests wait for one instead of each taking a lease. */
  readonly #taking = new Map<string, Promise<RateLimitDecision>>();

  async take(db: Executor, bucket: BucketId, limit: RateLimit, now: Date): Promise<RateLimitDecision> {
    const size = leaseSize(limit);
    if (size === 1) {
      return rateLimitDecision(limit, await takeTokens(db, bucket, 1, now));
    }
    const key = `${bucket.parkId}/${bucket.channel}/${bucket.direction}/${limit.perSecond}/${limit.burst}`;
    for (;;) {
      const spent = this.#spend(key, now);
      if (spent) return spent;
      const taking = this.#taking.get(key);
      if (!taking) break;
      await taking.catch(() => undefined);
    }
    const taking = this.#takeLease(db, bucket, limit, size, key, now);
    this.#taking.set(key, taking);
    try {
      return await taking;
    } finally {
      this.#taking.delete(key);
    }
  }

  /** Spends one token of the key's lease, or returns null when it has none left or has ended. */
  #spend(key: string, now: Date): RateLimitDecision | null {
    const lease = this.#leases.get(key);
    if (!lease || lease.tokens < 1 || lease.expiresAt <= now.getTime()) return null;
    lease.tokens -= 1;
    return { allowed: true, remaining: Math.floor(lease.bucketLeft + lease.tokens), retryAfterSeconds: 0 };
  }

  /** Takes a new lease from the database bucket, giving back what the ended one left, and spends its first token. */
  async #takeLease(db: Executor, bucket: BucketId, limit: RateLimit, size: number, key: string, now: Date): Promise<RateLimitDecision> {
    const unspent = Math.floor(this.#leases.get(key)?.tokens ?? 0);
    this.#leases.delete(key);
    const take = await takeTokens(db, bucket, size, now, unspent);
    const { taken, tokens } = take;
    if (taken < 1) return rateLimitDecision(limit, take);
    if (this.#leases.size >= MAX_LEASES) {
      const oldest = this.#leases.keys().next().value;
      if (oldest !== undefined) this.#leases.delete(oldest);
    }
    this.#leases.set(key, { tokens: taken - 1, bucketLeft: tokens, expiresAt: now.getTime() + LEASE_MS });
    return { allowed: true, remaining: Math.floor(tokens + taken - 1), retryAfterSeconds: 0 };
  }
}
