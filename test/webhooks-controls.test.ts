import { randomUUID } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, seedPark, type Harness } from './helpers/harness.ts';
import { connectChannel, sendWebhook } from './helpers/webhooks.ts';

let harness: Harness;
const park = 'dune-camp';

const availability = (allotment: number, date = '2026-12-20') => ({
  parkId: park,
  updates: [{ unitTypeId: 'cabin', from: date, to: date, allotment }],
});

async function allotmentOn(date: string): Promise<number> {
  const response = await harness.call('GET', `/parks/${park}/availability?unitTypeId=cabin&from=${date}&to=${date}`);
  return response.json().items[0].allotment as number;
}

beforeAll(async () => {
  harness = await startHarness();
  await seedPark(harness, park, { cabin: 5 });
  await harness.call('PUT', `/parks/${park}/channels/pitchup`, {});
});

afterAll(async () => {
  await harness.close();
});

describe('shadow mode', () => {
  it('runs every check, writes nothing and answers shadowed', async () => {
    const created = await harness.call('PUT', `/parks/${park}/channels/shadowy`, {});
    const secret = created.json().secret as string;
    const response = await sendWebhook(harness, { channel: 'shadowy', kind: 'availability', body: availability(4, '2026-12-21'), secret, key: 'shadow-1', version: 1 });
    expect(response.statusCode).toBe(202);
    expect(response.json().status).toBe('shadowed');
    expect(await allotmentOn('2026-12-21')).toBe(0);
    const marks = await harness.ctx.db.selectFrom('outbound_dirty').select('channel').where('date', '=', '2026-12-21').execute();
    expect(marks).toEqual([]);
    const events = await harness.ctx.db.selectFrom('channel_sync_events').select('status').where('idempotency_key', '=', 'shadow-1').execute();
    expect(events.map((event) => event.status)).toEqual(['shadowed']);
  });

  it('still rejects a bad signature in shadow mode', async () => {
    await harness.call('PUT', `/parks/${park}/channels/shadow-two`, {});
    const wrong = `whsec_${Buffer.alloc(32, 1).toString('base64')}`;
    const response = await sendWebhook(harness, { channel: 'shadow-two', kind: 'availability', body: availability(4), secret: wrong, version: 1 });
    expect(response.statusCode).toBe(401);
  });

  it('answers 404 when the flag is off', async () => {
    const secret = await connectChannel(harness, park, 'switched-off');
    await harness.call('PUT', '/flags/channel_sync_webhooks', { value: 'off', channel: 'switched-off', parkId: park });
    const response = await sendWebhook(harness, { channel: 'switched-off', kind: 'availability', body: availability(4), secret, version: 1 });
    expect(response.statusCode).toBe(404);
  });
});

describe('paused and disabled connections', () => {
  it('answers 503 with Retry-After while paused and applies nothing', async () => {
    const secret = await connectChannel(harness, park, 'paused-one');
    await harness.ctx.db.updateTable('connections').set({ paused: true, paused_reason: 'maintenance' }).where('channel', '=', 'paused-one').execute();
    const response = await sendWebhook(harness, { channel: 'paused-one', kind: 'availability', body: availability(3, '2026-12-22'), secret, key: 'paused-1', version: 1 });
    expect(response.statusCode).toBe(503);
    expect(Number(response.headers['retry-after'])).toBeGreaterThan(0);
    expect(await allotmentOn('2026-12-22')).toBe(0);
    const events = await harness.ctx.db.selectFrom('channel_sync_events').select('status').where('idempotency_key', '=', 'paused-1').execute();
    expect(events).toEqual([]);
    const byRequest = await harness.ctx.db.selectFrom('channel_sync_events').select('status').where('channel', '=', 'paused-one').execute();
    expect(byRequest.map((event) => event.status)).toEqual(['paused']);
  });

  it('answers 404 for a disabled connection', async () => {
    const secret = await connectChannel(harness, park, 'disabled-one');
    await harness.call('PUT', `/parks/${park}/channels/disabled-one`, { enabled: false });
    const response = await sendWebhook(harness, { channel: 'disabled-one', kind: 'availability', body: availability(3), secret, version: 1 });
    expect(response.statusCode).toBe(404);
  });
});

describe('cached webhook targets', () => {
  const send = (channel: string, secret: string, version: number, unitTypeId = 'cabin') =>
    sendWebhook(harness, {
      channel,
      kind: 'availability',
      body: { parkId: park, updates: [{ unitTypeId, from: '2026-12-26', to: '2026-12-26', allotment: 1 }] },
      secret,
      version,
    });

  it('takes a pause and a resume on the next request', async () => {
    const secret = await connectChannel(harness, park, 'warm-pause');
    expect((await send('warm-pause', secret, 1)).statusCode).toBe(202);
    const paused = await harness.call('POST', '/channels/warm-pause/pause', { parkId: park, reason: 'maintenance window' });
    expect(paused.statusCode).toBe(200);
    expect((await send('warm-pause', secret, 2)).statusCode).toBe(503);
    const resumed = await harness.call('POST', '/channels/warm-pause/resume', { parkId: park, force: true });
    expect(resumed.statusCode).toBe(200);
    expect((await send('warm-pause', secret, 3)).statusCode).toBe(202);
  });

  it('takes a rotated secret on the next request', async () => {
    const old = await connectChannel(harness, park, 'warm-rotate');
    expect((await send('warm-rotate', old, 1)).statusCode).toBe(202);
    const rotated = await harness.call('POST', `/parks/${park}/channels/warm-rotate/rotate-secret`, { graceSeconds: 0 });
    expect(rotated.statusCode).toBe(200);
    expect((await send('warm-rotate', rotated.json().secret as string, 2)).statusCode).toBe(202);
    expect((await send('warm-rotate', old, 3)).statusCode).toBe(401);
  });

  it('takes a new unit type on the next request', async () => {
    const secret = await connectChannel(harness, park, 'warm-units');
    expect((await send('warm-units', secret, 1)).statusCode).toBe(202);
    const created = await harness.call('PUT', `/parks/${park}/unit-types/yurt`, { name: 'Yurt', units: 2 });
    expect(created.statusCode).toBe(201);
    expect((await send('warm-units', secret, 2, 'yurt')).statusCode).toBe(202);
  });

  it('refills at a raised rate limit from the next request', async () => {
    const secret = await connectChannel(harness, park, 'warm-raise', { rateLimitIn: { perSecond: 1, burst: 1 } });
    expect((await send('warm-raise', secret, 1)).statusCode).toBe(202);
    expect((await send('warm-raise', secret, 2)).statusCode).toBe(429);
    await harness.call('PUT', `/parks/${park}/channels/warm-raise`, { rateLimitIn: { perSecond: 40, burst: 80 } });
    harness.clock.advance(500);
    const statuses = [];
    for (let version = 3; version <= 5; version += 1) statuses.push((await send('warm-raise', secret, version)).statusCode);
    expect(statuses).toEqual([202, 202, 202]);
  });

  it('spends one token on a replay after a settings change', async () => {
    const secret = await connectChannel(harness, park, 'warm-replay', { rateLimitIn: { perSecond: 1, burst: 1 } });
    const replay = () =>
      sendWebhook(harness, {
        channel: 'warm-replay',
        kind: 'availability',
        body: { parkId: park, updates: [{ unitTypeId: 'cabin', from: '2026-12-26', to: '2026-12-26', allotment: 1 }] },
        secret,
        key: 'warm-replay-1',
        version: 1,
      });
    expect((await replay()).statusCode).toBe(202);
    await harness.call('PUT', `/parks/${park}/channels/warm-replay`, { maxAttempts: 7 });
    harness.clock.advance(1000);
    const replayed = await replay();
    expect(replayed.statusCode).toBe(202);
    expect(replayed.headers['idempotent-replayed']).toBe('true');
  });

  it('takes a lower rate limit on the next request', async () => {
    const secret = await connectChannel(harness, park, 'warm-limit', { rateLimitIn: { perSecond: 100, burst: 100 } });
    expect((await send('warm-limit', secret, 1)).statusCode).toBe(202);
    await harness.call('PUT', `/parks/${park}/channels/warm-limit`, { rateLimitIn: { perSecond: 1, burst: 1 } });
    expect((await send('warm-limit', secret, 2)).statusCode).toBe(202);
    const limited = await send('warm-limit', secret, 3);
    expect(limited.statusCode).toBe(429);
    expect(limited.headers['ratelimit-limit']).toBe('1');
  });
});

describe('rateLimitIn', () => {
  it('answers 429 with Retry-After and RateLimit headers over the burst', async () => {
    const secret = await connectChannel(harness, park, 'limited', { rateLimitIn: { perSecond: 1, burst: 2 } });
    const send = (version: number) => sendWebhook(harness, { channel: 'limited', kind: 'availability', body: availability(1, '2026-12-23'), secret, version });
    expect((await send(1)).statusCode).toBe(202);
    expect((await send(2)).statusCode).toBe(202);
    const limited = await send(3);
    expect(limited.statusCode).toBe(429);
    expect(limited.json().code).toBe('rate_limited');
    expect(limited.headers['retry-after']).toBe('1');
    expect(limited.headers['ratelimit-limit']).toBe('2');
    expect(limited.headers['ratelimit-remaining']).toBe('0');
    harness.clock.advance(1000);
    expect((await send(4)).statusCode).toBe(202);
  });

  it('claims no Idempotency-Key for a refused request, so its retry is processed', async () => {
    const secret = await connectChannel(harness, park, 'refused', { rateLimitIn: { perSecond: 1, burst: 1 } });
    const send = (key: string, version: number) =>
      sendWebhook(harness, { channel: 'refused', kind: 'availability', body: availability(4, '2026-12-24'), secret, key, version });
    expect((await send('refused-1', 1)).statusCode).toBe(202);
    expect((await send('refused-2', 2)).statusCode).toBe(429);
    const keys = await harness.ctx.db.selectFrom('idempotency_keys').select('idempotency_key').where('channel', '=', 'refused').execute();
    expect(keys.map((row) => row.idempotency_key)).toEqual(['refused-1']);
    harness.clock.advance(1000);
    const retried = await send('refused-2', 2);
    expect(retried.statusCode).toBe(202);
    expect(retried.headers['idempotent-replayed']).toBeUndefined();
  });

  it('spends one token on a replay', async () => {
    const secret = await connectChannel(harness, park, 'replayed', { rateLimitIn: { perSecond: 1, burst: 1 } });
    const send = () =>
      sendWebhook(harness, { channel: 'replayed', kind: 'availability', body: availability(2, '2026-12-29'), secret, key: 'replayed-1', version: 1 });
    expect((await send()).statusCode).toBe(202);
    harness.clock.advance(1000);
    const replay = await send();
    expect(replay.statusCode).toBe(202);
    expect(replay.headers['idempotent-replayed']).toBe('true');
  });

  it('does not spend the quota on unsigned requests', async () => {
    const secret = await connectChannel(harness, park, 'guarded', { rateLimitIn: { perSecond: 1, burst: 1 } });
    const wrong = `whsec_${Buffer.alloc(32, 2).toString('base64')}`;
    for (let index = 0; index < 5; index += 1) {
      const forged = await sendWebhook(harness, { channel: 'guarded', kind: 'availability', body: availability(1), secret: wrong, version: 1 });
      expect(forged.statusCode).toBe(401);
    }
    const genuine = await sendWebhook(harness, { channel: 'guarded', kind: 'availability', body: availability(1), secret, version: 1 });
    expect(genuine.statusCode).toBe(202);
  });

  it('applies a changed limit on the next request', async () => {
    const secret = await connectChannel(harness, park, 'retuned', { rateLimitIn: { perSecond: 1, burst: 1 } });
    const send = (version: number) => sendWebhook(harness, { channel: 'retuned', kind: 'availability', body: availability(1), secret, version });
    expect((await send(1)).statusCode).toBe(202);
    expect((await send(2)).statusCode).toBe(429);
    await harness.call('PUT', `/parks/${park}/channels/retuned`, { rateLimitIn: { perSecond: 100, burst: 100 } });
    harness.clock.advance(100);
    expect((await send(3)).statusCode).toBe(202);
  });
});

describe('secret rotation', () => {
  it('verifies the previous secret until the grace ends, then only the new one', async () => {
    const old = await connectChannel(harness, park, 'rotating');
    const rotated = await harness.call('POST', `/parks/${park}/channels/rotating/rotate-secret`, { graceSeconds: 600 });
    expect(rotated.statusCode).toBe(200);
    const fresh = rotated.json().secret as string;
    expect(fresh).not.toBe(old);
    const send = (secret: string, version: number) =>
      sendWebhook(harness, { channel: 'rotating', kind: 'availability', body: availability(2), secret, version });
    expect((await send(old, 1)).statusCode).toBe(202);
    expect((await send(fresh, 2)).statusCode).toBe(202);
    harness.clock.advance(601_000);
    expect((await send(old, 3)).statusCode).toBe(401);
    expect((await send(fresh, 4)).statusCode).toBe(202);
  });

  it('treats a malformed stored secret as a configuration error, not an empty key', async () => {
    await connectChannel(harness, park, 'broken-secret');
    await harness.ctx.db.updateTable('connections').set({ secret_current: 'whsec_' }).where('channel', '=', 'broken-secret').execute();
    const response = await sendWebhook(harness, {
      channel: 'broken-secret',
      kind: 'availability',
      body: availability(1),
      secret: `whsec_${Buffer.alloc(32, 3).toString('base64')}`,
      version: 1,
    });
    expect(response.statusCode).toBe(500);
    expect(response.json().code).toBe('connection_misconfigured');
  });
});

describe('clock-skew window', () => {
  it('accepts an older timestamp after widening, with an audit note, until it expires', async () => {
    const secret = await connectChannel(harness, park, 'skewed');
    const old = () => Math.floor(harness.clock.now().getTime() / 1000) - 600;
    const send = (version: number) => sendWebhook(harness, { channel: 'skewed', kind: 'availability', body: availability(1), secret, version, timestamp: old() });
    expect((await send(1)).statusCode).toBe(401);
    const widened = await harness.call('PUT', `/parks/${park}/channels/skewed/skew-window`, {
      seconds: 900,
      expiresInSeconds: 3600,
      note: 'channel clock drifts after their data-centre move',
    });
    expect(widened.statusCode).toBe(200);
    expect((await send(2)).statusCode).toBe(202);
    const audit = await harness.call('GET', `/audit?parkId=${park}&action=connection.skew_window`);
    expect(audit.json().items[0].note).toBe('channel clock drifts after their data-centre move');
    harness.clock.advance(3601_000);
    expect((await send(3)).statusCode).toBe(401);
  });

  it('requires a note and an expiry to widen the window', async () => {
    const response = await harness.call('PUT', `/parks/${park}/channels/skewed/skew-window`, { seconds: 900 });
    expect(response.statusCode).toBe(422);
  });
});

describe('Idempotency-Key', () => {
  let secret: string;

  beforeAll(async () => {
    secret = await connectChannel(harness, park, 'keyed', { rateLimitIn: { perSecond: 1000, burst: 1000 } });
  });

  it('rejects the same key with a different body with 422', async () => {
    await sendWebhook(harness, { channel: 'keyed', kind: 'availability', body: availability(1, '2026-12-24'), secret, key: 'k-1', version: 1 });
    const reused = await sendWebhook(harness, { channel: 'keyed', kind: 'availability', body: availability(2, '2026-12-24'), secret, key: 'k-1', version: 2 });
    expect(reused.statusCode).toBe(422);
    expect(reused.json().code).toBe('idempotency_key_reused');
  });

  it('scopes keys to the endpoint', async () => {
    const body = { parkId: park, currency: 'EUR', updates: [{ unitTypeId: 'cabin', from: '2026-12-24', to: '2026-12-24', amount: '80.00' }] };
    const rates = await sendWebhook(harness, { channel: 'keyed', kind: 'rates', body, secret, key: 'k-1', version: 1 });
    expect(rates.statusCode).toBe(202);
  });

  it('answers 409 with Retry-After while the first request is running', async () => {
    const body = availability(1, '2026-12-25');
    await harness.ctx.db
      .insertInto('idempotency_keys')
      .values({
        channel: 'keyed',
        endpoint: 'availability',
        idempotency_key: 'k-running',
        park_id: park,
        fingerprint: (await import('../src/webhooks/idempotency.ts')).fingerprintBody(Buffer.from(JSON.stringify(body))),
        state: 'running',
        locked_until: new Date(harness.clock.now().getTime() + 30_000),
        expires_at: new Date(harness.clock.now().getTime() + 3600_000),
      })
      .execute();
    const response = await sendWebhook(harness, { channel: 'keyed', kind: 'availability', body, secret, key: 'k-running', version: 5 });
    expect(response.statusCode).toBe(409);
    expect(response.json().code).toBe('idempotency_in_progress');
    expect(Number(response.headers['retry-after'])).toBeGreaterThan(0);
  });

  it('processes a key afresh after 72 hours', async () => {
    const body = availability(3, '2026-12-26');
    await sendWebhook(harness, { channel: 'keyed', kind: 'availability', body, secret, key: 'k-old', version: 10 });
    harness.clock.advance(72 * 3600_000 + 1000);
    const later = await sendWebhook(harness, { channel: 'keyed', kind: 'availability', body, secret, key: 'k-old', version: 10 });
    expect(later.headers['idempotent-replayed']).toBeUndefined();
    expect(later.json().code).toBe('version_conflict');
  });

  it('applies one of 10 concurrent identical requests and never answers 500', async () => {
    const body = availability(4, '2026-12-27');
    const responses = await Promise.all(
      Array.from({ length: 10 }, () => sendWebhook(harness, { channel: 'keyed', kind: 'availability', body, secret, key: 'k-burst', version: 20 })),
    );
    const statuses = responses.map((response) => response.statusCode);
    expect(statuses.every((status) => status === 202 || status === 409)).toBe(true);
    const fresh = responses.filter((response) => response.statusCode === 202 && response.headers['idempotent-replayed'] === undefined);
    expect(fresh).toHaveLength(1);
    const applied = await harness.ctx.db
      .selectFrom('channel_sync_events')
      .select('status')
      .where('idempotency_key', '=', 'k-burst')
      .where('status', '=', 'applied')
      .execute();
    expect(applied).toHaveLength(1);
  });
});

describe('Standard Webhooks senders', () => {
  it('accepts a body signed with the standardwebhooks library and uses webhook-id as the key', async () => {
    const secret = await connectChannel(harness, park, 'standard');
    const payload = JSON.stringify(availability(2, '2026-12-28'));
    const messageId = `msg_${randomUUID()}`;
    const signature = new Webhook(secret).sign(messageId, harness.clock.now(), payload);
    const send = () =>
      harness.app.inject({
        method: 'POST',
        url: '/webhooks/channel/standard/availability',
        headers: {
          'content-type': 'application/json',
          'webhook-id': messageId,
          'webhook-timestamp': String(Math.floor(harness.clock.now().getTime() / 1000)),
          'webhook-signature': signature,
          'x-version': '1',
        },
        payload,
      });
    const first = await send();
    expect(first.statusCode).toBe(202);
    expect(await allotmentOn('2026-12-28')).toBe(2);
    const replay = await send();
    expect(replay.headers['idempotent-replayed']).toBe('true');
  });
});
