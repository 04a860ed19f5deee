import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signBody } from '../src/webhooks/signature.ts';
import { startHarness, seedPark, type Harness } from './helpers/harness.ts';
import { connectChannel, sendWebhook } from './helpers/webhooks.ts';

let harness: Harness;
let secret: string;
const park = 'dune-camp';

const availability = (allotment: number, from = '2026-12-10', to = '2026-12-12') => ({
  parkId: park,
  updates: [{ unitTypeId: 'cabin', from, to, allotment }],
});

async function readNight(date: string) {
  const response = await harness.call('GET', `/parks/${park}/availability?unitTypeId=cabin&from=${date}&to=${date}`);
  return response.json().items[0];
}

async function eventsFor(key: string) {
  return harness.ctx.db.selectFrom('channel_sync_events').selectAll().where('idempotency_key', '=', key).execute();
}

beforeAll(async () => {
  harness = await startHarness();
  await seedPark(harness, park, { cabin: 5 });
  secret = await connectChannel(harness, park, 'hipcamp');
  await connectChannel(harness, park, 'pitchup');
});

afterAll(async () => {
  await harness.close();
});

describe('webhook quick checks', () => {
  it('accepts a small signed availability webhook with 202', async () => {
    const response = await sendWebhook(harness, { kind: 'availability', body: availability(4), secret, key: 'quick-1', version: 1 });
    expect(response.statusCode).toBe(202);
    expect(response.json()).toMatchObject({ status: 'applied' });
    expect((await readNight('2026-12-11')).allotment).toBe(4);
  });

  it('replays a repeated Idempotency-Key without applying again', async () => {
    const first = await sendWebhook(harness, { kind: 'availability', body: availability(3), secret, key: 'quick-2', version: 2 });
    await harness.call('POST', `/parks/${park}/availability`, { updates: [{ unitTypeId: 'cabin', from: '2026-12-10', to: '2026-12-12', allotment: 5 }] });
    const again = await sendWebhook(harness, { kind: 'availability', body: availability(3), secret, key: 'quick-2', version: 2 });
    expect(again.statusCode).toBe(first.statusCode);
    expect(again.json()).toEqual(first.json());
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect((await readNight('2026-12-11')).allotment).toBe(5);
  });

  it('rejects a lower X-Version with 409 stale_version', async () => {
    await sendWebhook(harness, { kind: 'availability', body: availability(2), secret, version: 10 });
    const stale = await sendWebhook(harness, { kind: 'availability', body: availability(1), secret, version: 9 });
    expect(stale.statusCode).toBe(409);
    expect(stale.json().code).toBe('stale_version');
    expect((await readNight('2026-12-11')).allotment).toBe(2);
  });

  it('rejects an equal X-Version with version_conflict', async () => {
    const equal = await sendWebhook(harness, { kind: 'availability', body: availability(1), secret, version: 10 });
    expect(equal.statusCode).toBe(409);
    expect(equal.json().code).toBe('version_conflict');
  });

  it('marks the other connections dirty, never the sender', async () => {
    await sendWebhook(harness, { kind: 'availability', body: availability(3, '2027-01-05', '2027-01-05'), secret, version: 20 });
    const marks = await harness.ctx.db.selectFrom('outbound_dirty').select('channel').where('date', '=', '2027-01-05').execute();
    expect(marks.map((mark) => mark.channel)).toEqual(['pitchup']);
  });
});

describe('webhook apply paths', () => {
  const storedResponse = async (key: string) =>
    (await harness.ctx.db.selectFrom('idempotency_keys').select(['response_status', 'response_body']).where('idempotency_key', '=', key).executeTakeFirstOrThrow());

  it('stores the same response on both paths', async () => {
    await harness.call('POST', `/parks/${park}/availability`, { updates: [{ unitTypeId: 'cabin', from: '2027-04-01', to: '2027-04-03', allotment: 2 }] });
    const reserved = await harness.call('POST', `/parks/${park}/reservations`, {
      reservationId: 'paths-1', unitTypeId: 'cabin', arrival: '2027-04-02', departure: '2027-04-03', status: 'confirmed',
    });
    expect(reserved.statusCode).toBe(201);
    const updates = [
      { unitTypeId: 'cabin', from: '2027-04-01', to: '2027-04-02', allotment: 0 },
      { unitTypeId: 'cabin', from: '2027-04-03', to: '2027-04-03', stopSell: true },
    ];
    const separate = await sendWebhook(harness, { kind: 'availability', body: { parkId: park, updates }, secret, key: 'paths-separate', version: 80 });
    expect(separate.statusCode).toBe(202);
    const body = separate.json();
    expect(body).toEqual({ eventId: expect.any(String), status: 'applied', conflicts: [{ unitTypeId: 'cabin', date: '2027-04-02', allotment: 0, booked: 1 }] });
    expect(Object.keys(body)).toEqual(['eventId', 'status', 'conflicts']);
    expect(await storedResponse('paths-separate')).toEqual({ response_status: 202, response_body: body });
    const [event] = await eventsFor('paths-separate');
    expect(event).toMatchObject({ event_id: body.eventId, status: 'conflict', http_status: 202, version: 80 });
    expect(event?.detail).toEqual({ updates: 2, nights: 3, conflicts: 1, conflictNights: body.conflicts });

    // Overlapping updates cannot share one statement; the transaction applies them in order.
    const overlapping = [
      { unitTypeId: 'cabin', from: '2027-04-01', to: '2027-04-03', allotment: 0 },
      { unitTypeId: 'cabin', from: '2027-04-03', to: '2027-04-03', allotment: 2 },
    ];
    const ordered = await sendWebhook(harness, { kind: 'availability', body: { parkId: park, updates: overlapping }, secret, key: 'paths-ordered', version: 81 });
    expect(ordered.statusCode).toBe(202);
    expect(ordered.json()).toEqual({ eventId: expect.any(String), status: 'applied', conflicts: [{ unitTypeId: 'cabin', date: '2027-04-02', allotment: 0, booked: 1 }] });
    expect(await storedResponse('paths-ordered')).toEqual({ response_status: 202, response_body: ordered.json() });
    const [orderedEvent] = await eventsFor('paths-ordered');
    expect(orderedEvent?.detail).toEqual({ updates: 2, nights: 4, conflicts: 1, conflictNights: ordered.json().conflicts });
    expect((await readNight('2027-04-03')).allotment).toBe(2);
    expect((await readNight('2027-04-03')).stopSell).toBe(true);
  });

  it('keeps no versions after a stale night', async () => {
    const send = (from: string, to: string, allotment: number, version: number) =>
      sendWebhook(harness, { kind: 'availability', body: availability(allotment, from, to), secret, version });
    expect((await send('2027-05-01', '2027-05-03', 3, 90)).statusCode).toBe(202);
    expect((await send('2027-05-04', '2027-05-04', 3, 95)).statusCode).toBe(202);
    const refused = await send('2027-05-01', '2027-05-05', 1, 92);
    expect(refused.statusCode).toBe(409);
    expect(refused.json()).toMatchObject({ code: 'stale_version', entities: [{ entity: 'cabin/2027-05-04', version: 95 }] });
    expect((await readNight('2027-05-01')).allotment).toBe(3);
    expect((await readNight('2027-05-05')).allotment).toBe(0);
    const versions = await harness.ctx.db
      .selectFrom('entity_versions')
      .select(['entity_key', 'version'])
      .where('channel', '=', 'hipcamp')
      .where('entity_key', 'in', ['cabin/2027-05-01', 'cabin/2027-05-05'])
      .execute();
    expect(versions).toEqual([{ entity_key: 'cabin/2027-05-01', version: 90 }]);
  });
});

describe('webhook signatures', () => {
  it('rejects a wrong signature with 401 and applies nothing', async () => {
    const response = await sendWebhook(harness, { kind: 'availability', body: availability(0), secret: 'whsec_' + Buffer.alloc(32, 7).toString('base64'), version: 30 });
    expect(response.statusCode).toBe(401);
    expect(response.json().code).toBe('invalid_signature');
    expect((await readNight('2026-12-11')).allotment).not.toBe(0);
  });

  it('accepts a second v1 value when the first is wrong', async () => {
    const raw = JSON.stringify(availability(4, '2027-02-01', '2027-02-01'));
    const timestamp = Math.floor(harness.clock.now().getTime() / 1000);
    const good = signBody(secret, raw, timestamp)['x-signature'];
    const response = await sendWebhook(harness, {
      kind: 'availability',
      body: null,
      raw,
      secret,
      version: 31,
      headers: { 'x-signature': `v1=${'0'.repeat(64)}, ${good}` },
    });
    expect(response.statusCode).toBe(202);
  });

  it('verifies the exact bytes with unicode escapes, U+2028 and emoji', async () => {
    const raw = `{"parkId":"dune-camp","updates":[{"unitTypeId":"cabin","from":"2027-02-02","to":"2027-02-02","allotment":1}],"note":"\\u00e9 \u2028 🏕️"}`;
    const response = await sendWebhook(harness, { kind: 'availability', body: null, raw, secret, version: 32 });
    // The signature verifies; the unknown "note" field is then a validation error naming it.
    expect(response.statusCode).toBe(422);
    expect(response.json().errors[0].field).toBe('note');
  });

  it('answers 401, never 500, for a non-ASCII signature header', async () => {
    const response = await sendWebhook(harness, {
      kind: 'availability',
      body: availability(1),
      secret,
      version: 33,
      headers: { 'x-signature': 'v1=é🙂' },
    });
    expect(response.statusCode).toBe(401);
  });
});

describe('webhook timestamps', () => {
  const now = () => Math.floor(harness.clock.now().getTime() / 1000);

  it.each([
    ['301 s old', -301],
    ['301 s ahead', 301],
  ])('rejects a timestamp %s', async (_name, offset) => {
    const response = await sendWebhook(harness, { kind: 'availability', body: availability(1), secret, version: 40, timestamp: now() + offset });
    expect(response.statusCode).toBe(401);
    expect(response.json().code).toBe('timestamp_out_of_window');
  });

  it('accepts a timestamp 299 s old', async () => {
    const response = await sendWebhook(harness, { kind: 'availability', body: availability(3), secret, version: 41, timestamp: now() - 299 });
    expect(response.statusCode).toBe(202);
  });

  it('says so when the timestamp is in milliseconds', async () => {
    const response = await sendWebhook(harness, { kind: 'availability', body: availability(1), secret, version: 42, timestamp: now() * 1000 });
    expect(response.statusCode).toBe(401);
    expect(response.json().detail).toMatch(/milliseconds/);
  });

  it('rejects a non-numeric timestamp with 401', async () => {
    const raw = JSON.stringify(availability(1));
    const response = await harness.app.inject({
      method: 'POST',
      url: '/webhooks/channel/hipcamp/availability',
      headers: {
        'content-type': 'application/json',
        'x-timestamp': 'yesterday',
        'x-version': '43',
        'idempotency-key': 'ts-text',
        'x-signature': `v1=${'a'.repeat(64)}`,
      },
      payload: raw,
    });
    expect(response.statusCode).toBe(401);
  });
});

describe('webhook bodies', () => {
  it('rejects a body over 256 KiB with 413', async () => {
    const raw = JSON.stringify({ parkId: park, updates: [], pad: 'x'.repeat(300 * 1024) });
    const response = await sendWebhook(harness, { kind: 'availability', body: null, raw, secret, version: 50 });
    expect(response.statusCode).toBe(413);
    expect(response.headers['content-type']).toContain('application/problem+json');
  });

  it('rejects invalid JSON with 400', async () => {
    const response = await sendWebhook(harness, { kind: 'availability', body: null, raw: '{"parkId":', secret, version: 51 });
    expect(response.statusCode).toBe(400);
    expect(response.json().code).toBe('invalid_json');
  });

  it('rejects the wrong content type with 415', async () => {
    const response = await sendWebhook(harness, {
      kind: 'availability',
      body: availability(1),
      secret,
      version: 52,
      headers: { 'content-type': 'text/plain' },
    });
    expect(response.statusCode).toBe(415);
  });

  it('answers 404 for an unknown channel or park', async () => {
    const channel = await sendWebhook(harness, { channel: 'nowhere', kind: 'availability', body: availability(1), secret, version: 53 });
    expect(channel.statusCode).toBe(404);
    const otherPark = await sendWebhook(harness, { kind: 'availability', body: { ...availability(1), parkId: 'no-park' }, secret, version: 53 });
    expect(otherPark.statusCode).toBe(404);
  });

  it('requires Idempotency-Key and X-Version', async () => {
    const noKey = await sendWebhook(harness, { kind: 'availability', body: availability(1), secret, key: null, version: 54 });
    expect(noKey.statusCode).toBe(400);
    const noVersion = await sendWebhook(harness, { kind: 'availability', body: availability(1), secret, version: null });
    expect(noVersion.statusCode).toBe(400);
    expect(noVersion.json().detail).toMatch(/X-Version/);
  });

  it.each([
    ['to before from', { from: '2026-12-20', to: '2026-12-19' }, 'updates[0].to'],
    ['a range over 750 days', { from: '2026-12-10', to: '2029-01-10' }, 'updates[0].to'],
    ['29 February in a non-leap year', { from: '2027-02-29', to: '2027-03-01' }, 'updates[0].from'],
    ['far in the past', { from: '2020-01-01', to: '2020-01-02' }, 'updates[0].from'],
    ['far in the future', { from: '2031-01-01', to: '2031-01-02' }, 'updates[0].to'],
  ])('rejects %s with 422 naming the field', async (_name, range, field) => {
    const body = { parkId: park, updates: [{ unitTypeId: 'cabin', allotment: 1, ...range }] };
    const response = await sendWebhook(harness, { kind: 'availability', body, secret, version: 60 });
    expect(response.statusCode).toBe(422);
    expect(response.json().errors.map((error: { field: string }) => error.field)).toContain(field);
  });

  it.each([
    ['a negative count', -1],
    ['a fractional count', 1.5],
  ])('rejects %s with 422', async (_name, allotment) => {
    const response = await sendWebhook(harness, { kind: 'availability', body: availability(allotment), secret, version: 61 });
    expect(response.statusCode).toBe(422);
    expect(response.json().errors[0].field).toBe('updates[0].allotment');
  });

  it('rejects an unknown unit type with 422', async () => {
    const body = { parkId: park, updates: [{ unitTypeId: 'yurt', from: '2026-12-10', to: '2026-12-10', allotment: 1 }] };
    const response = await sendWebhook(harness, { kind: 'availability', body, secret, version: 62 });
    expect(response.statusCode).toBe(422);
    expect(response.json().errors[0].field).toBe('updates[0].unitTypeId');
  });
});

describe('webhook rates', () => {
  it('stores amounts in minor units', async () => {
    const body = { parkId: park, currency: 'EUR', updates: [{ unitTypeId: 'cabin', from: '2026-12-10', to: '2026-12-11', amount: '129.50' }] };
    const response = await sendWebhook(harness, { kind: 'rates', body, secret, version: 1 });
    expect(response.statusCode).toBe(202);
    const rates = await harness.call('GET', `/parks/${park}/rates?from=2026-12-10&to=2026-12-10`);
    expect(rates.json().items[0]).toMatchObject({ amountMinor: 12950, amount: '129.50' });
  });

  it('rejects a currency other than the park currency', async () => {
    const body = { parkId: park, currency: 'USD', updates: [{ unitTypeId: 'cabin', from: '2026-12-10', to: '2026-12-11', amount: '100.00' }] };
    const response = await sendWebhook(harness, { kind: 'rates', body, secret, version: 2 });
    expect(response.statusCode).toBe(422);
    expect(response.json().errors[0].field).toBe('currency');
  });

  it('rejects too many decimals for the currency', async () => {
    const body = { parkId: park, currency: 'EUR', updates: [{ unitTypeId: 'cabin', from: '2026-12-10', to: '2026-12-11', amount: '100.001' }] };
    const response = await sendWebhook(harness, { kind: 'rates', body, secret, version: 3 });
    expect(response.statusCode).toBe(422);
    expect(response.json().errors[0].field).toBe('updates[0].amount');
  });
});

describe('webhook event log', () => {
  it('leaves an event row for accepted and rejected requests', async () => {
    await sendWebhook(harness, { kind: 'availability', body: availability(2, '2027-03-01', '2027-03-01'), secret, key: 'log-ok', version: 70 });
    await sendWebhook(harness, { kind: 'availability', body: availability(2, '2027-03-01', '2027-03-01'), secret, key: 'log-stale', version: 69 });
    expect((await eventsFor('log-ok')).map((event) => event.status)).toEqual(['applied']);
    expect((await eventsFor('log-stale')).map((event) => event.status)).toEqual(['stale']);
  });

  it('keeps no secret in event rows', async () => {
    const rows = await harness.ctx.db.selectFrom('channel_sync_events').selectAll().execute();
    expect(JSON.stringify(rows)).not.toContain(secret.slice(6, 30));
  });
});

describe('webhook rates by currency exponent', () => {
  it.each([
    ['JPY', '12000', '12000.5', 12000],
    ['KWD', '45.125', '45.1255', 45125],
  ])('takes %s amounts up to its minor unit and rejects more decimals', async (currency, valid, tooPrecise, minor) => {
    const parkId = `camp-${currency.toLowerCase()}`;
    await seedPark(harness, parkId, { cabin: 2 }, { timezone: 'Asia/Tokyo', currency });
    const parkSecret = await connectChannel(harness, parkId, 'hipcamp');
    const body = (amount: string) => ({ parkId, currency, updates: [{ unitTypeId: 'cabin', from: '2026-12-10', to: '2026-12-10', amount }] });
    const accepted = await sendWebhook(harness, { kind: 'rates', body: body(valid), secret: parkSecret, version: 1 });
    expect(accepted.statusCode).toBe(202);
    const rejected = await sendWebhook(harness, { kind: 'rates', body: body(tooPrecise), secret: parkSecret, version: 2 });
    expect(rejected.statusCode).toBe(422);
    expect(rejected.json().errors[0].field).toBe('updates[0].amount');
    const stored = await harness.call('GET', `/parks/${parkId}/rates?from=2026-12-10&to=2026-12-10`);
    expect(stored.json().items[0].amountMinor).toBe(minor);
  });
});
