import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedPark, startHarness, type Harness } from './helpers/harness.ts';
import { expectProblem } from './helpers/problem.ts';

/*
 * The harness clock is set to 2026-12-04T12:00Z, which is 2026-12-04 in
 * Amsterdam and 2026-12-05 in Kiritimati (UTC+14). Writes may start yesterday
 * at the earliest and end 1096 days ahead (2029-12-04) at the latest.
 */

let harness: Harness;

beforeAll(async () => {
  harness = await startHarness();
  await seedPark(harness, 'dune-camp', { cabin: 5, pitch: 20 });
  await seedPark(harness, 'line-isles', { hut: 3 }, { timezone: 'Pacific/Kiritimati', currency: 'AUD' });
  await seedPark(harness, 'fuji-camp', { tent: 3 }, { timezone: 'Asia/Tokyo', currency: 'JPY' });
  await seedPark(harness, 'gulf-glamp', { dome: 3 }, { timezone: 'Asia/Kuwait', currency: 'KWD' });
});

afterAll(async () => {
  await harness.close();
});

interface Night {
  unitTypeId: string;
  date: string;
  allotment: number;
  booked: number;
  available: number;
  stopSell: boolean;
  minStay: number | null;
  closedToArrival: boolean;
  closedToDeparture: boolean;
}

async function setAvailability(parkId: string, ...updates: Array<Record<string, unknown>>) {
  return harness.call('POST', `/parks/${parkId}/availability`, { updates });
}

async function nights(parkId: string, unitTypeId: string, from: string, to: string): Promise<Night[]> {
  const response = await harness.call('GET', `/parks/${parkId}/availability?unitTypeId=${unitTypeId}&from=${from}&to=${to}`);
  if (response.statusCode !== 200) throw new Error(`nights: ${response.statusCode} ${response.body}`);
  return response.json<{ items: Night[] }>().items;
}

async function night(parkId: string, unitTypeId: string, date: string): Promise<Night> {
  const [item] = await nights(parkId, unitTypeId, date, date);
  if (!item) throw new Error(`night: no item for ${date}`);
  return item;
}

async function reserve(parkId: string, body: Record<string, unknown>) {
  const response = await harness.call('POST', `/parks/${parkId}/reservations`, { status: 'confirmed', ...body });
  if (response.statusCode !== 201) throw new Error(`reserve: ${response.statusCode} ${response.body}`);
}

describe('POST /parks/{parkId}/availability', () => {
  it('sets every night of an inclusive range', async () => {
    const response = await setAvailability('dune-camp', { unitTypeId: 'cabin', from: '2026-12-10', to: '2026-12-12', allotment: 3 });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ status: 'applied', nights: 3, conflicts: [] });
    const items = await nights('dune-camp', 'cabin', '2026-12-09', '2026-12-13');
    expect(items.map((item) => [item.date, item.allotment, item.available])).toEqual([
      ['2026-12-09', 0, 0],
      ['2026-12-10', 3, 3],
      ['2026-12-11', 3, 3],
      ['2026-12-12', 3, 3],
      ['2026-12-13', 0, 0],
    ]);
  });

  it('keeps fields an update leaves out', async () => {
    await setAvailability('dune-camp', {
      unitTypeId: 'cabin',
      from: '2027-01-05',
      to: '2027-01-06',
      allotment: 4,
      minStay: 2,
      closedToArrival: true,
    });
    await setAvailability('dune-camp', { unitTypeId: 'cabin', from: '2027-01-05', to: '2027-01-06', stopSell: true });
    const stored = await night('dune-camp', 'cabin', '2027-01-06');
    expect(stored.allotment).toBe(4);
    expect(stored.minStay).toBe(2);
    expect(stored.closedToArrival).toBe(true);
    expect(stored.stopSell).toBe(true);
  });

  it('clears minStay on null', async () => {
    await setAvailability('dune-camp', { unitTypeId: 'cabin', from: '2027-01-10', to: '2027-01-10', allotment: 4, minStay: 3 });
    await setAvailability('dune-camp', { unitTypeId: 'cabin', from: '2027-01-10', to: '2027-01-10', minStay: null });
    const stored = await night('dune-camp', 'cabin', '2027-01-10');
    expect(stored.minStay).toBeNull();
    expect(stored.allotment).toBe(4);
  });

  it('reports an allotment lowered below booked', async () => {
    await setAvailability('dune-camp', { unitTypeId: 'pitch', from: '2027-02-01', to: '2027-02-02', allotment: 3 });
    await reserve('dune-camp', { reservationId: 'lowered-1', unitTypeId: 'pitch', arrival: '2027-02-01', departure: '2027-02-03', units: 2 });

    const lowered = await setAvailability('dune-camp', { unitTypeId: 'pitch', from: '2027-02-01', to: '2027-02-02', allotment: 1 });
    expect(lowered.statusCode).toBe(200);
    expect(lowered.json().status).toBe('conflict');
    expect(lowered.json().conflicts).toEqual([
      { unitTypeId: 'pitch', date: '2027-02-01', allotment: 1, booked: 2 },
      { unitTypeId: 'pitch', date: '2027-02-02', allotment: 1, booked: 2 },
    ]);

    const stored = await night('dune-camp', 'pitch', '2027-02-01');
    expect(stored.allotment).toBe(1);
    expect(stored.booked).toBe(2);
    expect(stored.available).toBe(0);
  });

  it('accepts yesterday in the park timezone', async () => {
    const response = await setAvailability('dune-camp', { unitTypeId: 'cabin', from: '2026-12-03', to: '2026-12-03', allotment: 1 });
    expect(response.statusCode).toBe(200);
  });

  it('rejects two days ago in the park timezone', async () => {
    const response = await setAvailability('line-isles', { unitTypeId: 'hut', from: '2026-12-03', to: '2026-12-03', allotment: 1 });
    expectProblem(response, 422, 'validation_failed', 'updates[0].from');
    expect((await night('line-isles', 'hut', '2026-12-03')).allotment).toBe(0);
  });

  it('accepts a range of 750 nights', async () => {
    const response = await setAvailability('dune-camp', { unitTypeId: 'pitch', from: '2027-03-01', to: '2029-03-19', allotment: 20 });
    expect(response.statusCode).toBe(200);
    expect(response.json().nights).toBe(750);
  });

  it('accepts the last night three years ahead', async () => {
    const response = await setAvailability('dune-camp', { unitTypeId: 'cabin', from: '2029-12-04', to: '2029-12-04', allotment: 1 });
    expect(response.statusCode).toBe(200);
  });

  const base = { unitTypeId: 'cabin', from: '2027-04-01', to: '2027-04-03', allotment: 2 };
  const invalid: Array<{ label: string; update: Record<string, unknown>; field: string }> = [
    { label: 'to before from', update: { ...base, from: '2027-04-03', to: '2027-04-01' }, field: 'updates[0].to' },
    { label: 'a range of 751 nights', update: { ...base, to: '2029-04-20' }, field: 'updates[0].to' },
    { label: 'a date that does not exist', update: { ...base, from: '2027-02-29', to: '2027-04-03' }, field: 'updates[0].from' },
    { label: 'a date with no dashes', update: { ...base, from: '20270401' }, field: 'updates[0].from' },
    { label: 'a date two days ago', update: { ...base, from: '2026-12-02' }, field: 'updates[0].from' },
    { label: 'a date over three years ahead', update: { ...base, from: '2029-12-01', to: '2029-12-05' }, field: 'updates[0].to' },
    { label: 'negative allotment', update: { ...base, allotment: -1 }, field: 'updates[0].allotment' },
    { label: 'allotment as a string', update: { ...base, allotment: '2' }, field: 'updates[0].allotment' },
    { label: 'fractional allotment', update: { ...base, allotment: 1.5 }, field: 'updates[0].allotment' },
    { label: 'minStay of zero', update: { ...base, minStay: 0 }, field: 'updates[0].minStay' },
    { label: 'stopSell as a string', update: { ...base, stopSell: 'yes' }, field: 'updates[0].stopSell' },
    { label: 'an unknown unit type', update: { ...base, unitTypeId: 'yurt' }, field: 'updates[0].unitTypeId' },
    { label: 'an unknown field', update: { ...base, price: 10 }, field: 'updates[0].price' },
    { label: 'a missing from', update: { unitTypeId: 'cabin', to: '2027-04-03', allotment: 2 }, field: 'updates[0].from' },
    { label: 'an update that sets nothing', update: { unitTypeId: 'cabin', from: '2027-04-01', to: '2027-04-03' }, field: 'updates[0].allotment' },
  ];

  it.each(invalid)('rejects $label', async ({ update, field }) => {
    const response = await setAvailability('dune-camp', update);
    expectProblem(response, 422, 'validation_failed', field);
    const stored = await nights('dune-camp', 'cabin', '2027-04-01', '2027-04-03');
    expect(stored.map((item) => item.allotment)).toEqual([0, 0, 0]);
  });

  it('rejects the whole request when one update is invalid', async () => {
    const response = await setAvailability(
      'dune-camp',
      { unitTypeId: 'cabin', from: '2027-04-10', to: '2027-04-10', allotment: 2 },
      { unitTypeId: 'cabin', from: '2027-04-11', to: '2027-04-10', allotment: 2 },
    );
    expectProblem(response, 422, 'validation_failed', 'updates[1].to');
    expect((await night('dune-camp', 'cabin', '2027-04-10')).allotment).toBe(0);
  });

  it('rejects a parkId in the body', async () => {
    const response = await harness.call('POST', '/parks/dune-camp/availability', {
      parkId: 'dune-camp',
      updates: [{ unitTypeId: 'cabin', from: '2027-04-01', to: '2027-04-01', allotment: 2 }],
    });
    expectProblem(response, 422, 'validation_failed', 'parkId');
  });

  it('rejects an empty update list', async () => {
    expectProblem(await setAvailability('dune-camp'), 422, 'validation_failed', 'updates');
  });

  it('answers 404 for an unknown park', async () => {
    const response = await setAvailability('no-such-park', { ...base });
    expectProblem(response, 404, 'park_not_found');
  });
});

describe('GET /parks/{parkId}/availability', () => {
  const invalid: Array<{ label: string; query: string; field: string }> = [
    { label: 'to before from', query: 'from=2027-01-02&to=2027-01-01', field: 'query:to' },
    { label: 'a range of 751 nights', query: 'from=2027-01-01&to=2029-01-20', field: 'query:to' },
    { label: 'a date that does not exist', query: 'from=2027-02-29&to=2027-03-01', field: 'query:from' },
    { label: 'a missing from', query: 'to=2027-03-01', field: 'query:from' },
    { label: 'a malformed unit type', query: 'from=2027-01-01&to=2027-01-02&unitTypeId=Cabin', field: 'query:unitTypeId' },
    { label: 'an unknown parameter', query: 'from=2027-01-01&to=2027-01-02&limit=5', field: 'query:limit' },
  ];

  it.each(invalid)('rejects $label', async ({ query, field }) => {
    expectProblem(await harness.call('GET', `/parks/dune-camp/availability?${query}`), 422, 'validation_failed', field);
  });

  it('answers 404 for an unknown unit type', async () => {
    const response = await harness.call('GET', '/parks/dune-camp/availability?from=2027-01-01&to=2027-01-02&unitTypeId=yurt');
    expectProblem(response, 404, 'unit_type_not_found');
  });

  it('lists every unit type without a filter', async () => {
    const response = await harness.call('GET', '/parks/dune-camp/availability?from=2027-01-01&to=2027-01-02');
    const items = response.json<{ items: Night[] }>().items;
    expect(items.map((item) => `${item.unitTypeId} ${item.date}`)).toEqual([
      'cabin 2027-01-01',
      'cabin 2027-01-02',
      'pitch 2027-01-01',
      'pitch 2027-01-02',
    ]);
  });
});

describe('POST /parks/{parkId}/rates', () => {
  async function setRate(parkId: string, currency: string, unitTypeId: string, date: string, amount: unknown) {
    return harness.call('POST', `/parks/${parkId}/rates`, { currency, updates: [{ unitTypeId, from: date, to: date, amount }] });
  }

  async function rates(parkId: string, date: string): Promise<Array<{ amount: string; amountMinor: number }>> {
    return (await harness.call('GET', `/parks/${parkId}/rates?from=${date}&to=${date}`)).json().items;
  }

  it('stores EUR amounts in cents', async () => {
    const response = await setRate('dune-camp', 'EUR', 'cabin', '2027-05-01', '129.5');
    expect(response.statusCode).toBe(200);
    expect(await rates('dune-camp', '2027-05-01')).toMatchObject([{ amount: '129.50', amountMinor: 12950, ratePlanId: 'standard' }]);
  });

  it('rejects a fraction of a yen', async () => {
    const response = await setRate('fuji-camp', 'JPY', 'tent', '2027-05-01', '100.5');
    expectProblem(response, 422, 'validation_failed', 'updates[0].amount');
    expect(await rates('fuji-camp', '2027-05-01')).toEqual([]);
  });

  it('stores whole yen', async () => {
    expect((await setRate('fuji-camp', 'JPY', 'tent', '2027-05-02', '12000')).statusCode).toBe(200);
    expect(await rates('fuji-camp', '2027-05-02')).toMatchObject([{ amount: '12000', amountMinor: 12000 }]);
  });

  it('stores three decimals of a dinar', async () => {
    expect((await setRate('gulf-glamp', 'KWD', 'dome', '2027-05-01', '1.234')).statusCode).toBe(200);
    expect(await rates('gulf-glamp', '2027-05-01')).toMatchObject([{ amount: '1.234', amountMinor: 1234 }]);
  });

  it('rejects four decimals of a dinar', async () => {
    const response = await setRate('gulf-glamp', 'KWD', 'dome', '2027-05-02', '1.2345');
    expectProblem(response, 422, 'validation_failed', 'updates[0].amount');
    expect(await rates('gulf-glamp', '2027-05-02')).toEqual([]);
  });

  it('rejects an amount sent as a number', async () => {
    const response = await setRate('dune-camp', 'EUR', 'cabin', '2027-05-03', 129);
    expectProblem(response, 422, 'validation_failed', 'updates[0].amount');
    expect(await rates('dune-camp', '2027-05-03')).toEqual([]);
  });

  it('rejects a negative amount', async () => {
    const response = await setRate('dune-camp', 'EUR', 'cabin', '2027-05-03', '-5.00');
    expectProblem(response, 422, 'validation_failed', 'updates[0].amount');
    expect(await rates('dune-camp', '2027-05-03')).toEqual([]);
  });

  it('rejects a currency other than the park currency', async () => {
    const response = await setRate('dune-camp', 'USD', 'cabin', '2027-05-03', '129.00');
    expectProblem(response, 422, 'validation_failed', 'currency');
    expect(await rates('dune-camp', '2027-05-03')).toEqual([]);
  });

  it('rejects a lowercase currency', async () => {
    const response = await setRate('dune-camp', 'eur', 'cabin', '2027-05-03', '129.00');
    expectProblem(response, 422, 'validation_failed', 'currency');
    expect(await rates('dune-camp', '2027-05-03')).toEqual([]);
  });

  it('rejects a read range with to before from', async () => {
    const response = await harness.call('GET', '/parks/dune-camp/rates?from=2027-05-02&to=2027-05-01');
    expectProblem(response, 422, 'validation_failed', 'query:to');
  });

  it('rejects a rate over three years ahead', async () => {
    const response = await setRate('dune-camp', 'EUR', 'cabin', '2029-12-05', '129.00');
    expectProblem(response, 422, 'validation_failed', 'updates[0].to');
  });
});
