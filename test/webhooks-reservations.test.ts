import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, seedPark, type Harness } from './helpers/harness.ts';
import { testDatabaseKind } from './helpers/database.ts';
import { connectChannel, sendWebhook } from './helpers/webhooks.ts';

let harness: Harness;
let secret: string;
const park = 'dune-camp';

function reservation(reservationId: string, fields: Record<string, unknown> = {}) {
  return { parkId: park, reservationId, status: 'confirmed', unitTypeId: 'cabin', arrival: '2027-01-10', departure: '2027-01-12', ...fields };
}

async function booked(date: string, unitTypeId = 'cabin'): Promise<number> {
  const response = await harness.call('GET', `/parks/${park}/availability?unitTypeId=${unitTypeId}&from=${date}&to=${date}`);
  return response.json().items[0].booked as number;
}

async function setAllotment(allotment: number, from = '2027-01-01', to = '2027-01-31', unitTypeId = 'cabin') {
  const response = await harness.call('POST', `/parks/${park}/availability`, { updates: [{ unitTypeId, from, to, allotment }] });
  expect(response.statusCode).toBe(200);
}

beforeAll(async () => {
  harness = await startHarness();
  await seedPark(harness, park, { cabin: 5, tent: 5 });
  secret = await connectChannel(harness, park, 'hipcamp');
  await setAllotment(2);
  await setAllotment(2, '2027-01-01', '2027-01-31', 'tent');
});

afterAll(async () => {
  await harness.close();
});

describe('reservation webhooks', () => {
  it('claims one unit per night of a new stay', async () => {
    const response = await sendWebhook(harness, { kind: 'reservations', body: reservation('r-new'), secret, version: 1 });
    expect(response.statusCode).toBe(202);
    expect(response.json().outcome).toBe('created');
    expect(await booked('2027-01-10')).toBe(1);
    expect(await booked('2027-01-11')).toBe(1);
    expect(await booked('2027-01-12')).toBe(0);
  });

  it('answers 409 overbooked naming the nights and claims nothing', async () => {
    await sendWebhook(harness, { kind: 'reservations', body: reservation('r-fill', { arrival: '2027-01-11', departure: '2027-01-12' }), secret, version: 1 });
    const response = await sendWebhook(harness, {
      kind: 'reservations',
      body: reservation('r-over', { arrival: '2027-01-09', departure: '2027-01-12' }),
      secret,
      key: 'overbook-1',
      version: 1,
    });
    expect(response.statusCode).toBe(409);
    expect(response.json().code).toBe('overbooked');
    expect(response.json().failedNights.map((night: { date: string }) => night.date)).toEqual(['2027-01-11']);
    expect(await booked('2027-01-09')).toBe(0);
    const events = await harness.ctx.db.selectFrom('channel_sync_events').select('status').where('idempotency_key', '=', 'overbook-1').execute();
    expect(events.map((event) => event.status)).toEqual(['overbook']);
  });

  it('lets a stay start on the day another ends', async () => {
    await setAllotment(1, '2027-01-20', '2027-01-23');
    const first = await sendWebhook(harness, { kind: 'reservations', body: reservation('r-a', { arrival: '2027-01-20', departure: '2027-01-22' }), secret, version: 1 });
    const second = await sendWebhook(harness, { kind: 'reservations', body: reservation('r-b', { arrival: '2027-01-22', departure: '2027-01-24' }), secret, version: 1 });
    expect(first.statusCode).toBe(202);
    expect(second.statusCode).toBe(202);
    expect(await booked('2027-01-21')).toBe(1);
    expect(await booked('2027-01-22')).toBe(1);
  });

  it('releases once when cancelled twice', async () => {
    await sendWebhook(harness, { kind: 'reservations', body: reservation('r-cancel', { arrival: '2027-01-15', departure: '2027-01-16' }), secret, version: 1 });
    expect(await booked('2027-01-15')).toBe(1);
    const cancelled = { arrival: '2027-01-15', departure: '2027-01-16', status: 'cancelled' };
    expect((await sendWebhook(harness, { kind: 'reservations', body: reservation('r-cancel', cancelled), secret, version: 2 })).statusCode).toBe(202);
    expect((await sendWebhook(harness, { kind: 'reservations', body: reservation('r-cancel', cancelled), secret, version: 3 })).statusCode).toBe(202);
    expect(await booked('2027-01-15')).toBe(0);
  });

  it('never conflicts a modification with its own nights', async () => {
    await setAllotment(1, '2027-01-26', '2027-01-29');
    await sendWebhook(harness, { kind: 'reservations', body: reservation('r-move', { arrival: '2027-01-26', departure: '2027-01-28' }), secret, version: 1 });
    const moved = await sendWebhook(harness, { kind: 'reservations', body: reservation('r-move', { arrival: '2027-01-27', departure: '2027-01-29' }), secret, version: 2 });
    expect(moved.statusCode).toBe(202);
    expect(moved.json().outcome).toBe('modified');
    expect(await booked('2027-01-26')).toBe(0);
    expect(await booked('2027-01-28')).toBe(1);
  });

  it('moves the nights when the unit type changes', async () => {
    await sendWebhook(harness, { kind: 'reservations', body: reservation('r-switch', { arrival: '2027-01-05', departure: '2027-01-06' }), secret, version: 1 });
    await sendWebhook(harness, { kind: 'reservations', body: reservation('r-switch', { arrival: '2027-01-05', departure: '2027-01-06', unitTypeId: 'tent' }), secret, version: 2 });
    expect(await booked('2027-01-05')).toBe(0);
    expect(await booked('2027-01-05', 'tent')).toBe(1);
  });

  it('stores an unseen cancellation so a later, lower create is stale', async () => {
    const cancelled = await sendWebhook(harness, { kind: 'reservations', body: reservation('r-ghost', { status: 'cancelled' }), secret, version: 5 });
    expect(cancelled.statusCode).toBe(202);
    const lateCreate = await sendWebhook(harness, { kind: 'reservations', body: reservation('r-ghost'), secret, version: 4 });
    expect(lateCreate.statusCode).toBe(409);
    expect(lateCreate.json().code).toBe('stale_version');
  });

  it('stores an allotment below booked as a conflict sold as 0 available', async () => {
    await setAllotment(2, '2027-01-03', '2027-01-03');
    await sendWebhook(harness, { kind: 'reservations', body: reservation('r-hold', { arrival: '2027-01-03', departure: '2027-01-04', units: 2 }), secret, version: 1 });
    const lowered = await sendWebhook(harness, {
      kind: 'availability',
      body: { parkId: park, updates: [{ unitTypeId: 'cabin', from: '2027-01-03', to: '2027-01-03', allotment: 1 }] },
      secret,
      key: 'lowered-1',
      version: 1,
    });
    expect(lowered.statusCode).toBe(202);
    expect(lowered.json().conflicts).toEqual([{ unitTypeId: 'cabin', date: '2027-01-03', allotment: 1, booked: 2 }]);
    const night = (await harness.call('GET', `/parks/${park}/availability?unitTypeId=cabin&from=2027-01-03&to=2027-01-03`)).json().items[0];
    expect(night).toMatchObject({ allotment: 1, booked: 2, available: 0 });
    const events = await harness.ctx.db.selectFrom('channel_sync_events').select('status').where('idempotency_key', '=', 'lowered-1').execute();
    expect(events.map((event) => event.status)).toEqual(['conflict']);
  });
});

describe('reservation concurrency', () => {
  it.runIf(testDatabaseKind() === 'postgres')('accepts exactly 10 of 200 concurrent claims for the last 10 units', async () => {
    await setAllotment(10, '2027-02-10', '2027-02-11');
    const rushSecret = await connectChannel(harness, park, 'rush', { rateLimitIn: { perSecond: 1000, burst: 1000 } });
    const responses = await Promise.all(
      Array.from({ length: 200 }, (_, index) =>
        sendWebhook(harness, {
          kind: 'reservations',
          channel: 'rush',
          body: reservation(`rush-${index}`, { arrival: '2027-02-10', departure: '2027-02-12' }),
          secret: rushSecret,
          version: 1,
        }),
      ),
    );
    const statuses = responses.map((response) => response.statusCode);
    expect(statuses.filter((status) => status === 202)).toHaveLength(10);
    expect(statuses.filter((status) => status === 409)).toHaveLength(190);
    expect(await booked('2027-02-10')).toBe(10);
    expect(await booked('2027-02-11')).toBe(10);
  });
});
