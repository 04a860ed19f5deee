import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedPark, startHarness, type Harness } from './helpers/harness.ts';
import { testDatabaseKind } from './helpers/database.ts';
import { expectProblem } from './helpers/problem.ts';

/* The harness clock is set to 2026-12-04T12:00Z, a Friday. Every stay here is in 2027. */

let harness: Harness;

beforeAll(async () => {
  harness = await startHarness();
  await seedPark(harness, 'dune-camp', { cabin: 5, pitch: 20, tent: 10, lodge: 2, hut: 4, yurt: 50 });
});

afterAll(async () => {
  await harness.close();
});

interface Night {
  date: string;
  allotment: number;
  booked: number;
  available: number;
}

async function setAllotment(unitTypeId: string, from: string, to: string, allotment: number, extra: Record<string, unknown> = {}) {
  const response = await harness.call('POST', '/parks/dune-camp/availability', {
    updates: [{ unitTypeId, from, to, allotment, ...extra }],
  });
  if (response.statusCode !== 200) throw new Error(`setAllotment: ${response.statusCode} ${response.body}`);
}

async function nights(unitTypeId: string, from: string, to: string): Promise<Night[]> {
  const response = await harness.call('GET', `/parks/dune-camp/availability?unitTypeId=${unitTypeId}&from=${from}&to=${to}`);
  if (response.statusCode !== 200) throw new Error(`nights: ${response.statusCode} ${response.body}`);
  return response.json<{ items: Night[] }>().items;
}

async function bookedOn(unitTypeId: string, from: string, to: string): Promise<number[]> {
  return (await nights(unitTypeId, from, to)).map((night) => night.booked);
}

function reserve(body: Record<string, unknown>) {
  return harness.call('POST', '/parks/dune-camp/reservations', { status: 'confirmed', ...body });
}

describe('POST /parks/{parkId}/reservations', () => {
  it('creates a reservation', async () => {
    await setAllotment('cabin', '2027-03-01', '2027-03-10', 2);
    const response = await reserve({
      reservationId: 'direct-1',
      unitTypeId: 'cabin',
      arrival: '2027-03-02',
      departure: '2027-03-05',
      guests: 2,
      total: { amount: '387.00', currency: 'EUR' },
    });
    expect(response.statusCode).toBe(201);
    expect(response.json()).toMatchObject({
      outcome: 'created',
      parkId: 'dune-camp',
      channel: 'direct',
      reservationId: 'direct-1',
      status: 'confirmed',
      nights: 3,
      units: 1,
      total: { amount: '387.00', currency: 'EUR', amountMinor: 38700 },
    });
    expect(await bookedOn('cabin', '2027-03-01', '2027-03-05')).toEqual([0, 1, 1, 1, 0]);
    const read = await harness.call('GET', '/parks/dune-camp/reservations/direct/direct-1');
    expect(read.json().arrival).toBe('2027-03-02');
  });

  it('gives a reservation without an id one', async () => {
    await setAllotment('pitch', '2027-03-01', '2027-03-01', 5);
    const response = await reserve({ unitTypeId: 'pitch', arrival: '2027-03-01', departure: '2027-03-02' });
    expect(response.statusCode).toBe(201);
    expect(response.json().reservationId).toMatch(/^dir-[0-9a-f]{12}$/);
  });

  it('answers 409 overbooked and claims nothing', async () => {
    await setAllotment('lodge', '2027-04-01', '2027-04-05', 2);
    await setAllotment('lodge', '2027-04-03', '2027-04-03', 1);
    expect((await reserve({ reservationId: 'lodge-1', unitTypeId: 'lodge', arrival: '2027-04-03', departure: '2027-04-04' })).statusCode).toBe(201);
    const before = await nights('lodge', '2027-04-01', '2027-04-05');

    const response = await reserve({ reservationId: 'lodge-2', unitTypeId: 'lodge', arrival: '2027-04-01', departure: '2027-04-05' });
    const problem = expectProblem(response, 409, 'overbooked');
    expect(problem.failedNights).toEqual([{ date: '2027-04-03', unitTypeId: 'lodge', requested: 1, available: 0, stopSell: false }]);

    expect(await nights('lodge', '2027-04-01', '2027-04-05')).toEqual(before);
    expectProblem(await harness.call('GET', '/parks/dune-camp/reservations/direct/lodge-2'), 404, 'reservation_not_found');
  });

  it('names every night that lacks units', async () => {
    await setAllotment('lodge', '2027-04-10', '2027-04-11', 1);
    const response = await reserve({ reservationId: 'lodge-3', unitTypeId: 'lodge', arrival: '2027-04-10', departure: '2027-04-13', units: 2 });
    const problem = expectProblem(response, 409, 'overbooked');
    expect(problem.failedNights).toEqual([
      { date: '2027-04-10', unitTypeId: 'lodge', requested: 2, available: 1, stopSell: false },
      { date: '2027-04-11', unitTypeId: 'lodge', requested: 2, available: 1, stopSell: false },
      { date: '2027-04-12', unitTypeId: 'lodge', requested: 2, available: 0, stopSell: false },
    ]);
    expect(await bookedOn('lodge', '2027-04-10', '2027-04-12')).toEqual([0, 0, 0]);
  });

  it('lets a stay arrive on another stay’s departure day', async () => {
    await setAllotment('hut', '2027-05-01', '2027-05-05', 1);
    expect((await reserve({ reservationId: 'hut-1', unitTypeId: 'hut', arrival: '2027-05-01', departure: '2027-05-03' })).statusCode).toBe(201);
    expect((await reserve({ reservationId: 'hut-2', unitTypeId: 'hut', arrival: '2027-05-03', departure: '2027-05-05' })).statusCode).toBe(201);
    expect(await bookedOn('hut', '2027-05-01', '2027-05-05')).toEqual([1, 1, 1, 1, 0]);
  });

  it('releases once when cancelled twice', async () => {
    await setAllotment('tent', '2027-06-01', '2027-06-01', 2);
    await reserve({ reservationId: 'tent-1', unitTypeId: 'tent', arrival: '2027-06-01', departure: '2027-06-02' });
    await reserve({ reservationId: 'tent-2', unitTypeId: 'tent', arrival: '2027-06-01', departure: '2027-06-02' });
    expect(await bookedOn('tent', '2027-06-01', '2027-06-01')).toEqual([2]);

    const cancel = { reservationId: 'tent-1', status: 'cancelled', unitTypeId: 'tent', arrival: '2027-06-01', departure: '2027-06-02' };
    const first = await reserve(cancel);
    expect(first.statusCode).toBe(200);
    expect(first.json().outcome).toBe('cancelled');
    expect(await bookedOn('tent', '2027-06-01', '2027-06-01')).toEqual([1]);

    const second = await reserve(cancel);
    expect(second.statusCode).toBe(200);
    expect(second.json().outcome).toBe('unchanged');
    expect(await bookedOn('tent', '2027-06-01', '2027-06-01')).toEqual([1]);
  });

  it('moves a modified stay without conflicting with itself', async () => {
    await setAllotment('tent', '2027-06-10', '2027-06-15', 1);
    await reserve({ reservationId: 'tent-3', unitTypeId: 'tent', arrival: '2027-06-10', departure: '2027-06-13' });
    const moved = await reserve({ reservationId: 'tent-3', unitTypeId: 'tent', arrival: '2027-06-11', departure: '2027-06-14' });
    expect(moved.statusCode).toBe(200);
    expect(moved.json().outcome).toBe('modified');
    expect(await bookedOn('tent', '2027-06-10', '2027-06-14')).toEqual([0, 1, 1, 1, 0]);
  });

  it('moves a stay to another unit type', async () => {
    await setAllotment('tent', '2027-06-20', '2027-06-21', 1);
    await setAllotment('hut', '2027-06-20', '2027-06-21', 1);
    await reserve({ reservationId: 'tent-4', unitTypeId: 'tent', arrival: '2027-06-20', departure: '2027-06-22' });
    const moved = await reserve({ reservationId: 'tent-4', unitTypeId: 'hut', arrival: '2027-06-20', departure: '2027-06-22' });
    expect(moved.statusCode).toBe(200);
    expect(await bookedOn('tent', '2027-06-20', '2027-06-21')).toEqual([0, 0]);
    expect(await bookedOn('hut', '2027-06-20', '2027-06-21')).toEqual([1, 1]);
  });

  it('keeps the old stay when a modification is overbooked', async () => {
    await setAllotment('tent', '2027-07-01', '2027-07-02', 1);
    await setAllotment('tent', '2027-07-03', '2027-07-03', 0);
    await reserve({ reservationId: 'tent-5', unitTypeId: 'tent', arrival: '2027-07-01', departure: '2027-07-03' });
    const moved = await reserve({ reservationId: 'tent-5', unitTypeId: 'tent', arrival: '2027-07-02', departure: '2027-07-04' });
    const problem = expectProblem(moved, 409, 'overbooked');
    expect(problem.failedNights).toEqual([{ date: '2027-07-03', unitTypeId: 'tent', requested: 1, available: 0, stopSell: false }]);
    expect(await bookedOn('tent', '2027-07-01', '2027-07-03')).toEqual([1, 1, 0]);
    const read = await harness.call('GET', '/parks/dune-camp/reservations/direct/tent-5');
    expect(read.json().arrival).toBe('2027-07-01');
  });

  it('rejects a claim on a stop-sell night', async () => {
    await setAllotment('yurt', '2027-08-01', '2027-08-03', 10);
    await setAllotment('yurt', '2027-08-02', '2027-08-02', 10, { stopSell: true });
    const response = await reserve({ reservationId: 'yurt-1', unitTypeId: 'yurt', arrival: '2027-08-01', departure: '2027-08-04' });
    const problem = expectProblem(response, 409, 'overbooked');
    expect(problem.failedNights).toEqual([{ date: '2027-08-02', unitTypeId: 'yurt', requested: 1, available: 10, stopSell: true }]);
    expect(await bookedOn('yurt', '2027-08-01', '2027-08-03')).toEqual([0, 0, 0]);
  });

  it('rejects a claim on nights never put on sale', async () => {
    const response = await reserve({ reservationId: 'yurt-2', unitTypeId: 'yurt', arrival: '2027-09-01', departure: '2027-09-02' });
    const problem = expectProblem(response, 409, 'overbooked');
    expect(problem.failedNights).toEqual([{ date: '2027-09-01', unitTypeId: 'yurt', requested: 1, available: 0, stopSell: false }]);
  });

  it('stores a cancellation it has not seen without claiming', async () => {
    await setAllotment('yurt', '2027-10-01', '2027-10-01', 3);
    const response = await reserve({ reservationId: 'yurt-3', status: 'cancelled', unitTypeId: 'yurt', arrival: '2027-10-01', departure: '2027-10-02' });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toMatchObject({ outcome: 'cancelled', status: 'cancelled' });
    expect(await bookedOn('yurt', '2027-10-01', '2027-10-01')).toEqual([0]);
  });

  const stay = { reservationId: 'invalid-1', unitTypeId: 'yurt', arrival: '2027-10-10', departure: '2027-10-12' };
  const invalid: Array<{ label: string; body: Record<string, unknown>; field: string }> = [
    { label: 'departure on arrival', body: { ...stay, departure: '2027-10-10' }, field: 'departure' },
    { label: 'departure before arrival', body: { ...stay, departure: '2027-10-09' }, field: 'departure' },
    { label: 'a date that does not exist', body: { ...stay, arrival: '2027-02-29' }, field: 'arrival' },
    { label: 'a stay that ended', body: { ...stay, arrival: '2026-11-01', departure: '2026-11-03' }, field: 'departure' },
    { label: 'an arrival over three years ahead', body: { ...stay, arrival: '2029-12-10', departure: '2029-12-12' }, field: 'arrival' },
    { label: 'an unknown unit type', body: { ...stay, unitTypeId: 'castle' }, field: 'unitTypeId' },
    { label: 'zero units', body: { ...stay, units: 0 }, field: 'units' },
    { label: 'units as a string', body: { ...stay, units: '1' }, field: 'units' },
    { label: 'fractional units', body: { ...stay, units: 1.5 }, field: 'units' },
    { label: 'an unknown status', body: { ...stay, status: 'pending' }, field: 'status' },
    { label: 'another park in the body', body: { ...stay, parkId: 'other-park' }, field: 'parkId' },
    { label: 'a total in another currency', body: { ...stay, total: { amount: '10.00', currency: 'USD' } }, field: 'total.currency' },
    { label: 'a total with too many decimals', body: { ...stay, total: { amount: '10.001', currency: 'EUR' } }, field: 'total.amount' },
    { label: 'an unknown field', body: { ...stay, source: 'phone' }, field: 'source' },
    { label: 'a missing arrival', body: { reservationId: 'invalid-1', unitTypeId: 'yurt', departure: '2027-10-12' }, field: 'arrival' },
  ];

  it.each(invalid)('rejects $label', async ({ body, field }) => {
    await setAllotment('yurt', '2027-10-10', '2027-10-11', 5);
    expectProblem(await reserve(body), 422, 'validation_failed', field);
    expect(await bookedOn('yurt', '2027-10-10', '2027-10-11')).toEqual([0, 0]);
    expectProblem(await harness.call('GET', '/parks/dune-camp/reservations/direct/invalid-1'), 404, 'reservation_not_found');
  });

  it('answers 404 for an unknown park', async () => {
    const response = await harness.call('POST', '/parks/no-such-park/reservations', { ...stay, status: 'confirmed' });
    expectProblem(response, 404, 'park_not_found');
  });
});

describe('concurrent direct reservations', () => {
  it.runIf(testDatabaseKind() === 'postgres')('never sell more than the last units', async () => {
    // A connection makes every claim also mark the night for delivery, as in production.
    const connection = await harness.call('PUT', '/parks/dune-camp/channels/booking', {});
    expect(connection.statusCode).toBe(201);
    await setAllotment('cabin', '2027-11-20', '2027-11-20', 5);
    const responses = await Promise.all(
      Array.from({ length: 50 }, (_, index) =>
        reserve({ reservationId: `race-${index}`, unitTypeId: 'cabin', arrival: '2027-11-20', departure: '2027-11-21' }),
      ),
    );
    const statuses = responses.map((response) => response.statusCode);
    expect(statuses.filter((status) => status === 201)).toHaveLength(5);
    expect(statuses.filter((status) => status === 409)).toHaveLength(45);
    expect(statuses.filter((status) => status >= 500)).toEqual([]);
    for (const response of responses.filter((candidate) => candidate.statusCode === 409)) {
      expect(response.json().code).toBe('overbooked');
    }

    const [stored] = await nights('cabin', '2027-11-20', '2027-11-20');
    expect(stored?.booked).toBe(5);
    expect(stored?.available).toBe(0);
    const heldUnits = await harness.ctx.db
      .selectFrom('reservation_nights')
      .select((eb) => eb.fn.sum<number>('units').as('units'))
      .where('park_id', '=', 'dune-camp')
      .where('unit_type_id', '=', 'cabin')
      .where('date', '=', '2027-11-20')
      .executeTakeFirstOrThrow();
    expect(Number(heldUnits.units)).toBe(5);
    const marks = await harness.ctx.db
      .selectFrom('outbound_dirty')
      .selectAll()
      .where('park_id', '=', 'dune-camp')
      .where('channel', '=', 'booking')
      .where('unit_type_id', '=', 'cabin')
      .where('date', '=', '2027-11-20')
      .execute();
    expect(marks).toHaveLength(1);
  });
});
