import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { leaseSize, TokenLeases } from '../src/channels/token-leases.ts';
import { startHarness, seedPark, type Harness } from './helpers/harness.ts';
import { connectChannel } from './helpers/webhooks.ts';

let harness: Harness;
const park = 'dune-camp';

beforeAll(async () => {
  harness = await startHarness();
  await seedPark(harness, park, { cabin: 5 });
  await connectChannel(harness, park, 'leasing', { rateLimitIn: { perSecond: 100, burst: 200 } });
});

async function setLimit(limit: { perSecond: number; burst: number }): Promise<void> {
  const response = await harness.call('PUT', `/parks/${park}/channels/leasing`, { rateLimitIn: limit });
  expect(response.statusCode).toBe(200);
}

afterAll(async () => {
  await harness.close();
});

async function bucketTokens(): Promise<number | undefined> {
  const row = await harness.ctx.db
    .selectFrom('rate_limit_buckets')
    .select('tokens')
    .where('park_id', '=', park)
    .where('channel', '=', 'leasing')
    .where('direction', '=', 'in')
    .executeTakeFirst();
  return row?.tokens;
}

describe('leaseSize', () => {
  it.each([
    [{ perSecond: 1, burst: 1 }, 1],
    [{ perSecond: 20, burst: 40 }, 2],
    [{ perSecond: 100, burst: 20 }, 5],
    [{ perSecond: 1000, burst: 2000 }, 100],
  ])('leases for %o: %i', (limit, size) => {
    expect(leaseSize(limit)).toBe(size);
  });
});

describe('TokenLeases', () => {
  const bucket = { parkId: park, channel: 'leasing', direction: 'in' } as const;
  const limit = { perSecond: 100, burst: 200 };

  it('takes a lease of tokens in one call and spends it locally', async () => {
    const leases = new TokenLeases();
    const now = harness.clock.now();
    const first = await leases.take(harness.ctx.db, bucket, limit, now);
    expect(first).toEqual({ allowed: true, remaining: 199, retryAfterSeconds: 0 });
    expect(await bucketTokens()).toBe(190);
    for (let index = 0; index < 9; index += 1) {
      expect((await leases.take(harness.ctx.db, bucket, limit, now)).allowed).toBe(true);
    }
    expect(await bucketTokens()).toBe(190);
    const next = await leases.take(harness.ctx.db, bucket, limit, now);
    expect(next.remaining).toBe(189);
    expect(await bucketTokens()).toBe(180);
  });

  it('drops a lease after a second and a lease for a changed limit', async () => {
    const leases = new TokenLeases();
    const now = harness.clock.now();
    await leases.take(harness.ctx.db, bucket, limit, now);
    const before = await bucketTokens();
    await setLimit({ perSecond: 200, burst: 200 });
    await leases.take(harness.ctx.db, bucket, { perSecond: 200, burst: 200 }, now);
    expect(await bucketTokens()).toBe((before ?? 0) - 20);
    await setLimit(limit);
    // A second later the first lease has ended: a new one is taken, after 100 tokens of refill.
    await leases.take(harness.ctx.db, bucket, limit, new Date(now.getTime() + 1000));
    expect(await bucketTokens()).toBe(Math.min(200, (before ?? 0) - 20 + 100) - 10);
  });

  it('takes one lease for many concurrent requests', async () => {
    const leases = new TokenLeases();
    const now = new Date(harness.clock.now().getTime() + 30_000);
    await harness.ctx.db.deleteFrom('rate_limit_buckets').execute();
    const decisions = await Promise.all(Array.from({ length: 10 }, () => leases.take(harness.ctx.db, bucket, limit, now)));
    expect(decisions.every((decision) => decision.allowed)).toBe(true);
    expect(await bucketTokens()).toBe(190);
  });

  it('gives back unspent tokens with the next lease', async () => {
    const leases = new TokenLeases();
    const thin = { perSecond: 20, burst: 400 };
    await setLimit(thin);
    const now = new Date(harness.clock.now().getTime() + 90_000);
    await harness.ctx.db.deleteFrom('rate_limit_buckets').execute();
    await harness.ctx.db.insertInto('rate_limit_buckets').values({ park_id: park, channel: 'leasing', direction: 'in', tokens: 10, refreshed_at: now }).execute();
    // A lease of two tokens: one spent now, one left when the lease ends a second later.
    expect((await leases.take(harness.ctx.db, bucket, thin, now)).allowed).toBe(true);
    expect(await bucketTokens()).toBe(8);
    await leases.take(harness.ctx.db, bucket, thin, new Date(now.getTime() + 1000));
    // 8 left, 20 refilled, 1 given back, 2 taken.
    expect(await bucketTokens()).toBe(27);
    await setLimit(limit);
  });

  it('refuses when the bucket is empty and tells when to retry', async () => {
    const leases = new TokenLeases();
    const tight = { perSecond: 1, burst: 1 };
    await setLimit(tight);
    const now = new Date(harness.clock.now().getTime() + 60_000);
    await harness.ctx.db.deleteFrom('rate_limit_buckets').execute();
    expect((await leases.take(harness.ctx.db, bucket, tight, now)).allowed).toBe(true);
    expect(await leases.take(harness.ctx.db, bucket, tight, now)).toEqual({ allowed: false, remaining: 0, retryAfterSeconds: 1 });
  });

  it('refills at the connection\'s current limit, whatever limit the caller holds', async () => {
    const leases = new TokenLeases();
    await setLimit({ perSecond: 1, burst: 1 });
    const now = new Date(harness.clock.now().getTime() + 120_000);
    await harness.ctx.db.deleteFrom('rate_limit_buckets').execute();
    expect((await leases.take(harness.ctx.db, bucket, { perSecond: 1, burst: 1 }, now)).allowed).toBe(true);
    await setLimit({ perSecond: 40, burst: 80 });
    // A caller with the old limit half a second later: the bucket refills at 40/s, so 20 tokens are there.
    const stale = await leases.take(harness.ctx.db, bucket, { perSecond: 1, burst: 1 }, new Date(now.getTime() + 500));
    expect(stale).toEqual({ allowed: true, remaining: 19, retryAfterSeconds: 0 });
  });
});
