import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testDatabaseKind } from './helpers/database.ts';
import { ADMIN_TOKEN, seedPark, startHarness, type Harness } from './helpers/harness.ts';
import { expectProblem } from './helpers/problem.ts';
import { connectChannel, sendWebhook } from './helpers/webhooks.ts';

/*
 * Parks and connections used throughout:
 *   dune-camp   cabin (5), pitch (20)   connected to hipcamp and pitchup
 *   pine-woods  tent (3)                connected to pitchup only
 *   race-park   cabin (100)             connected to hipcamp; written to directly
 *                                       over SQL by the concurrent-writer tests
 * The harness clock is 2026-12-04, so every night below is in the future.
 */

type Kind = 'availability' | 'rates' | 'reservations';
type Item = Record<string, unknown>;

interface Page {
  items: Item[];
  nextCursor: string | null;
  changesCursor?: string;
}

let harness: Harness;
let hipcampToken: string;
let pitchupToken: string;
let duneReaderToken: string;
let pineReaderToken: string;
let hipcampSecret: string;
let pitchupSecret: string;

async function createToken(body: Record<string, unknown>): Promise<string> {
  const response = await harness.call('POST', '/tokens', body);
  if (response.statusCode !== 201) throw new Error(`createToken: ${response.statusCode} ${response.body}`);
  return response.json().token as string;
}

function pullUrl(kind: Kind, channel: string, query: Record<string, string | number>): string {
  const search = new URLSearchParams(Object.entries(query).map(([key, value]): [string, string] => [key, String(value)]));
  return `/channels/${channel}/${kind}?${search}`;
}

function pull(kind: Kind, channel: string, query: Record<string, string | number>, token: string | null = hipcampToken) {
  return harness.call('GET', pullUrl(kind, channel, query), undefined, token);
}

async function pullPage(kind: Kind, channel: string, query: Record<string, string | number>, token: string | null = hipcampToken): Promise<Page> {
  const response = await pull(kind, channel, query, token);
  if (response.statusCode !== 200) throw new Error(`pull ${kind}: ${response.statusCode} ${response.body}`);
  return response.json<Page>();
}

/** Reads a whole range page by page and returns every page. */
async function readRange(
  kind: Kind,
  query: { parkId: string; from: string; to: string; limit: number },
  options: { channel?: string; token?: string } = {},
): Promise<Page[]> {
  const channel = options.channel ?? 'hipcamp';
  const pages: Page[] = [await pullPage(kind, channel, query, options.token)];
  for (let next = pages[0]?.nextCursor; next; next = pages.at(-1)?.nextCursor) {
    pages.push(await pullPage(kind, channel, { parkId: query.parkId, sinceCursor: next, limit: query.limit }, options.token));
    if (pages.length > 100) throw new Error('readRange: more than 100 pages');
  }
  return pages;
}

/** Reads an empty range and returns the change cursor its last page hands over. */
async function changesCursorOf(kind: Kind, parkId: string, channel = 'hipcamp', token = hipcampToken): Promise<string> {
  const pages = await readRange(kind, { parkId, from: '2030-01-01', to: '2030-01-01', limit: 1000 }, { channel, token });
  const cursor = pages.at(-1)?.changesCursor;
  if (!cursor) throw new Error('changesCursorOf: the last page has no changesCursor');
  return cursor;
}

async function setAvailability(parkId: string, ...updates: Item[]): Promise<void> {
  const response = await harness.call('POST', `/parks/${parkId}/availability`, { updates });
  if (response.statusCode !== 200) throw new Error(`setAvailability: ${response.statusCode} ${response.body}`);
}

async function setRates(parkId: string, ...updates: Item[]): Promise<void> {
  const response = await harness.call('POST', `/parks/${parkId}/rates`, { currency: 'EUR', updates });
  if (response.statusCode !== 200) throw new Error(`setRates: ${response.statusCode} ${response.body}`);
}

beforeAll(async () => {
  harness = await startHarness();
  await seedPark(harness, 'dune-camp', { cabin: 5, pitch: 20 });
  await seedPark(harness, 'pine-woods', { tent: 3 });
  await seedPark(harness, 'race-park', { cabin: 100 });
  hipcampSecret = await connectChannel(harness, 'dune-camp', 'hipcamp');
  pitchupSecret = await connectChannel(harness, 'dune-camp', 'pitchup');
  await connectChannel(harness, 'pine-woods', 'pitchup');
  await connectChannel(harness, 'race-park', 'hipcamp');
  hipcampToken = await createToken({ scopes: ['read'], channel: 'hipcamp' });
  pitchupToken = await createToken({ scopes: ['read'], channel: 'pitchup' });
  duneReaderToken = await createToken({ scopes: ['read'], parkIds: ['dune-camp'] });
  pineReaderToken = await createToken({ scopes: ['read'], parkIds: ['pine-woods'] });
});

afterAll(async () => {
  await harness.close();
});

describe('range reads', () => {
  beforeAll(async () => {
    await setAvailability('dune-camp', { unitTypeId: 'cabin', from: '2027-03-10', to: '2027-03-12', allotment: 3, minStay: 2 });
    await setRates(
      'dune-camp',
      { unitTypeId: 'cabin', from: '2027-03-10', to: '2027-03-12', amount: '80.00' },
      { unitTypeId: 'cabin', ratePlanId: 'flex', from: '2027-03-10', to: '2027-03-11', amount: '95.50' },
      { unitTypeId: 'pitch', from: '2027-03-12', to: '2027-03-12', amount: '30.00' },
    );
  });

  it('pages availability one item per night', async () => {
    const pages = await readRange('availability', { parkId: 'dune-camp', from: '2027-03-09', to: '2027-03-13', limit: 3 });
    expect(pages.map((page) => page.items.length)).toEqual([3, 3, 3, 1]);
    for (const page of pages.slice(0, -1)) {
      expect(typeof page.nextCursor).toBe('string');
      expect(page).not.toHaveProperty('changesCursor');
    }
    const last = pages.at(-1);
    expect(last?.nextCursor).toBeNull();
    expect(typeof last?.changesCursor).toBe('string');

    const items = pages.flatMap((page) => page.items);
    expect(items.map((item) => `${item.unitTypeId} ${item.date} ${item.allotment}`)).toEqual([
      'cabin 2027-03-09 0',
      'cabin 2027-03-10 3',
      'cabin 2027-03-11 3',
      'cabin 2027-03-12 3',
      'cabin 2027-03-13 0',
      'pitch 2027-03-09 0',
      'pitch 2027-03-10 0',
      'pitch 2027-03-11 0',
      'pitch 2027-03-12 0',
      'pitch 2027-03-13 0',
    ]);
  });

  it('gives the items the park-side read gives', async () => {
    const pages = await readRange('availability', { parkId: 'dune-camp', from: '2027-03-09', to: '2027-03-13', limit: 4 });
    const parkSide = await harness.call('GET', '/parks/dune-camp/availability?from=2027-03-09&to=2027-03-13');
    expect(parkSide.statusCode).toBe(200);
    expect(pages.flatMap((page) => page.items)).toEqual(parkSide.json().items);
    expect(pages[0]?.items[1]).toEqual({
      unitTypeId: 'cabin',
      date: '2027-03-10',
      allotment: 3,
      booked: 0,
      available: 3,
      stopSell: false,
      minStay: 2,
      minStayArrival: 2,
      minStayThrough: null,
      maxStay: null,
      closedToArrival: false,
      closedToDeparture: false,
    });
  });

  it('ends on a page filled exactly', async () => {
    const page = await pullPage('availability', 'hipcamp', { parkId: 'dune-camp', from: '2027-03-09', to: '2027-03-13', limit: 10 });
    expect(page.items).toHaveLength(10);
    expect(page.nextCursor).toBeNull();
    expect(typeof page.changesCursor).toBe('string');
  });

  it('pages rates by unit type, rate plan and night', async () => {
    const pages = await readRange('rates', { parkId: 'dune-camp', from: '2027-03-01', to: '2027-03-31', limit: 2 });
    expect(pages.map((page) => page.items.length)).toEqual([2, 2, 2]);
    const items = pages.flatMap((page) => page.items);
    expect(items.map((item) => `${item.unitTypeId} ${item.ratePlanId} ${item.date} ${item.amount}`)).toEqual([
      'cabin flex 2027-03-10 95.50',
      'cabin flex 2027-03-11 95.50',
      'cabin standard 2027-03-10 80.00',
      'cabin standard 2027-03-11 80.00',
      'cabin standard 2027-03-12 80.00',
      'pitch standard 2027-03-12 30.00',
    ]);
    const parkSide = await harness.call('GET', '/parks/dune-camp/rates?from=2027-03-01&to=2027-03-31');
    expect(items).toEqual(parkSide.json().items);
  });

  it('defaults to 100 items a page', async () => {
    const page = await pullPage('availability', 'hipcamp', { parkId: 'dune-camp', from: '2027-01-01', to: '2027-12-31' });
    expect(page.items).toHaveLength(100);
    expect(typeof page.nextCursor).toBe('string');
  });

  it('accepts a range of 750 nights', async () => {
    const page = await pullPage('availability', 'hipcamp', { parkId: 'dune-camp', from: '2027-01-01', to: '2029-01-19', limit: 1000 });
    expect(page.items).toHaveLength(1000);
  });

  const invalid: Array<[string, Record<string, string | number>, string]> = [
    ['to before from', { from: '2027-03-10', to: '2027-03-09' }, 'query:to'],
    ['a range of 751 nights', { from: '2027-01-01', to: '2029-01-20' }, 'query:to'],
    ['an impossible date', { from: '2027-02-29', to: '2027-03-01' }, 'query:from'],
    ['from without to', { from: '2027-03-10' }, 'query:to'],
    ['neither range nor cursor', {}, 'query:from'],
    ['a range and a cursor', { from: '2027-03-10', to: '2027-03-11', sinceCursor: 'abc' }, 'query:from'],
    ['limit 0', { from: '2027-03-10', to: '2027-03-11', limit: 0 }, 'query:limit'],
    ['limit 1001', { from: '2027-03-10', to: '2027-03-11', limit: 1001 }, 'query:limit'],
    ['an unknown parameter', { from: '2027-03-10', to: '2027-03-11', unit: 'cabin' }, 'query:unit'],
  ];

  it.each(invalid)('rejects %s with 422', async (_case, query, field) => {
    const response = await pull('availability', 'hipcamp', { parkId: 'dune-camp', ...query });
    expectProblem(response, 422, 'validation_failed', field);
  });
});

describe('change feed', () => {
  it('returns changes after the cursor', async () => {
    const start = await changesCursorOf('availability', 'dune-camp');
    await setAvailability('dune-camp', { unitTypeId: 'pitch', from: '2027-04-10', to: '2027-04-11', allotment: 12, stopSell: true });
    const page = await pullPage('availability', 'hipcamp', { parkId: 'dune-camp', sinceCursor: start });
    expect(page.items.map((item) => `${item.unitTypeId} ${item.date} ${item.allotment} ${item.stopSell}`)).toEqual([
      'pitch 2027-04-10 12 true',
      'pitch 2027-04-11 12 true',
    ]);
    expect(typeof page.nextCursor).toBe('string');
    expect(page.nextCursor).not.toBe(start);
    expect(page).not.toHaveProperty('changesCursor');
  });

  it('keeps the cursor when nothing is new', async () => {
    const start = await changesCursorOf('availability', 'dune-camp');
    const first = await pullPage('availability', 'hipcamp', { parkId: 'dune-camp', sinceCursor: start });
    const second = await pullPage('availability', 'hipcamp', { parkId: 'dune-camp', sinceCursor: start });
    expect(first.items).toEqual([]);
    expect(first.nextCursor).toBe(start);
    expect(second.nextCursor).toBe(start);
  });

  it('pages changes with limit', async () => {
    const start = await changesCursorOf('availability', 'dune-camp');
    await setAvailability('dune-camp', { unitTypeId: 'cabin', from: '2027-04-20', to: '2027-04-24', allotment: 4 });
    const sizes: number[] = [];
    const dates: unknown[] = [];
    let cursor = start;
    for (let poll = 0; poll < 4; poll += 1) {
      const page = await pullPage('availability', 'hipcamp', { parkId: 'dune-camp', sinceCursor: cursor, limit: 2 });
      sizes.push(page.items.length);
      dates.push(...page.items.map((item) => item.date));
      cursor = page.nextCursor as string;
    }
    expect(sizes).toEqual([2, 2, 1, 0]);
    expect(dates).toEqual(['2027-04-20', '2027-04-21', '2027-04-22', '2027-04-23', '2027-04-24']);
  });

  it('hands over from a range without missing a change', async () => {
    await setAvailability('dune-camp', { unitTypeId: 'cabin', from: '2027-04-01', to: '2027-04-02', allotment: 1 });
    const query = { parkId: 'dune-camp', from: '2027-04-01', to: '2027-04-02', limit: 2 };
    const first = await pullPage('availability', 'hipcamp', query);
    expect(first.items.map((item) => `${item.unitTypeId} ${item.date} ${item.allotment}`)).toEqual(['cabin 2027-04-01 1', 'cabin 2027-04-02 1']);

    // A night already read changes while the range is still being paged.
    await setAvailability('dune-camp', { unitTypeId: 'cabin', from: '2027-04-01', to: '2027-04-01', allotment: 7 });
    const second = await pullPage('availability', 'hipcamp', { parkId: 'dune-camp', sinceCursor: first.nextCursor as string, limit: 2 });
    expect(second.items.map((item) => `${item.unitTypeId} ${item.date}`)).toEqual(['pitch 2027-04-01', 'pitch 2027-04-02']);
    expect(second.nextCursor).toBeNull();

    const changes = await pullPage('availability', 'hipcamp', { parkId: 'dune-camp', sinceCursor: second.changesCursor as string, limit: 1000 });
    const cabin = changes.items.filter((item) => item.unitTypeId === 'cabin' && item.date === '2027-04-01');
    expect(cabin.map((item) => item.allotment)).toEqual([7]);
  });

  it('returns rate changes as rate items', async () => {
    const start = await changesCursorOf('rates', 'dune-camp');
    await setRates('dune-camp', { unitTypeId: 'pitch', ratePlanId: 'flex', from: '2027-04-15', to: '2027-04-15', amount: '41.25' });
    const page = await pullPage('rates', 'hipcamp', { parkId: 'dune-camp', sinceCursor: start });
    expect(page.items).toEqual([
      { unitTypeId: 'pitch', ratePlanId: 'flex', date: '2027-04-15', amount: '41.25', amountMinor: 4125, currency: 'EUR' },
    ]);
  });

  it('keeps parks apart', async () => {
    const start = await changesCursorOf('availability', 'dune-camp', 'pitchup', pitchupToken);
    await setAvailability('pine-woods', { unitTypeId: 'tent', from: '2027-04-15', to: '2027-04-16', allotment: 2 });
    const page = await pullPage('availability', 'pitchup', { parkId: 'dune-camp', sinceCursor: start }, pitchupToken);
    expect(page.items).toEqual([]);
  });
});

describe('authentication', () => {
  const range = { from: '2027-03-10', to: '2027-03-10' };

  it('lets a channel token read its connected park', async () => {
    const response = await pull('availability', 'hipcamp', { parkId: 'dune-camp', ...range }, hipcampToken);
    expect(response.statusCode).toBe(200);
  });

  it('answers 404 for a park without the connection', async () => {
    const response = await pull('availability', 'hipcamp', { parkId: 'pine-woods', ...range }, hipcampToken);
    const problem = expectProblem(response, 404, 'connection_not_found');
    expect(problem.detail).toBe('Park "pine-woods" has no connection to channel "hipcamp".');
  });

  it('answers 404 for an unknown park', async () => {
    const response = await pull('rates', 'hipcamp', { parkId: 'no-such-park', ...range }, hipcampToken);
    expectProblem(response, 404, 'connection_not_found');
  });

  it("answers 404 to another channel's token", async () => {
    const response = await pull('availability', 'hipcamp', { parkId: 'dune-camp', ...range }, pitchupToken);
    const problem = expectProblem(response, 404, 'connection_not_found');
    expect(problem.detail).toBe('Park "dune-camp" has no connection to channel "hipcamp".');
  });

  it('answers 401 without a token', async () => {
    const response = await pull('reservations', 'hipcamp', { parkId: 'dune-camp', ...range }, null);
    expectProblem(response, 401, 'unauthorized');
    expect(response.headers['www-authenticate']).toContain('Bearer');
  });

  it('answers 401 to an unknown token', async () => {
    const response = await pull('availability', 'hipcamp', { parkId: 'dune-camp', ...range }, 'pst_not-a-real-token');
    expectProblem(response, 401, 'unauthorized');
  });

  it('lets an operator read token read its park', async () => {
    const response = await pull('availability', 'hipcamp', { parkId: 'dune-camp', ...range }, duneReaderToken);
    expect(response.statusCode).toBe(200);
  });

  it('answers 404 to an operator token of other parks', async () => {
    const response = await pull('availability', 'hipcamp', { parkId: 'dune-camp', ...range }, pineReaderToken);
    expectProblem(response, 404, 'connection_not_found');
  });

  it('answers 404 for a disabled connection', async () => {
    await connectChannel(harness, 'dune-camp', 'airbnb');
    const disabled = await harness.call('PUT', '/parks/dune-camp/channels/airbnb', { enabled: false });
    expect(disabled.statusCode).toBe(200);
    const response = await pull('availability', 'airbnb', { parkId: 'dune-camp', ...range }, ADMIN_TOKEN);
    expectProblem(response, 404, 'connection_not_found');
  });

  it('checks the connection before the cursor', async () => {
    const response = await pull('availability', 'hipcamp', { parkId: 'pine-woods', sinceCursor: 'garbage' }, hipcampToken);
    expectProblem(response, 404, 'connection_not_found');
  });

  it('keeps channel tokens off operator endpoints', async () => {
    const response = await harness.call('GET', '/parks/dune-camp/availability?from=2027-03-10&to=2027-03-10', undefined, hipcampToken);
    expectProblem(response, 403, 'forbidden');
  });
});

describe('cursors', () => {
  it('rejects a malformed cursor', async () => {
    const response = await pull('availability', 'hipcamp', { parkId: 'dune-camp', sinceCursor: 'not-a-cursor' });
    expectProblem(response, 400, 'invalid_cursor');
  });

  it('rejects a tampered cursor', async () => {
    const start = await changesCursorOf('availability', 'dune-camp');
    const document = JSON.parse(Buffer.from(start, 'base64url').toString('utf8')) as Record<string, unknown>;
    const tampered = Buffer.from(JSON.stringify({ ...document, txid: 'latest' }), 'utf8').toString('base64url');
    const response = await pull('availability', 'hipcamp', { parkId: 'dune-camp', sinceCursor: tampered });
    expectProblem(response, 400, 'invalid_cursor');
  });

  it('rejects a cursor of another kind', async () => {
    const ratesCursor = await changesCursorOf('rates', 'dune-camp');
    const response = await pull('availability', 'hipcamp', { parkId: 'dune-camp', sinceCursor: ratesCursor });
    expectProblem(response, 400, 'invalid_cursor');
    const rangePage = await pullPage('rates', 'hipcamp', { parkId: 'dune-camp', from: '2027-03-01', to: '2027-03-31', limit: 1 });
    const rangeResponse = await pull('reservations', 'hipcamp', { parkId: 'dune-camp', sinceCursor: rangePage.nextCursor as string });
    expectProblem(rangeResponse, 400, 'invalid_cursor');
  });

  it('rejects a cursor of another park', async () => {
    const pineCursor = await changesCursorOf('availability', 'pine-woods', 'pitchup', pitchupToken);
    const response = await pull('availability', 'pitchup', { parkId: 'dune-camp', sinceCursor: pineCursor }, pitchupToken);
    const problem = expectProblem(response, 400, 'invalid_cursor');
    expect(problem.detail).not.toContain('pine-woods');
  });

  it('rejects a cursor of another channel', async () => {
    const pitchupCursor = await changesCursorOf('availability', 'dune-camp', 'pitchup', pitchupToken);
    const response = await pull('availability', 'hipcamp', { parkId: 'dune-camp', sinceCursor: pitchupCursor }, hipcampToken);
    expectProblem(response, 400, 'invalid_cursor');
  });
});

describe('reservations', () => {
  const guest = { name: 'Ada Lovelace', email: 'ada@example.org' };

  function reservation(reservationId: string, fields: Item = {}): Item {
    return { parkId: 'dune-camp', reservationId, status: 'confirmed', unitTypeId: 'cabin', guest, ...fields };
  }

  beforeAll(async () => {
    await setAvailability('dune-camp', { unitTypeId: 'cabin', from: '2027-05-01', to: '2027-05-31', allotment: 5 });
    const hipcamp = await sendWebhook(harness, {
      channel: 'hipcamp',
      kind: 'reservations',
      body: reservation('hc-1', { arrival: '2027-05-10', departure: '2027-05-12' }),
      secret: hipcampSecret,
      version: 1,
    });
    expect(hipcamp.statusCode).toBe(202);
    const pitchup = await sendWebhook(harness, {
      channel: 'pitchup',
      kind: 'reservations',
      body: reservation('pu-1', { arrival: '2027-05-11', departure: '2027-05-13' }),
      secret: pitchupSecret,
      version: 1,
    });
    expect(pitchup.statusCode).toBe(202);
    const direct = await harness.call('POST', '/parks/dune-camp/reservations', {
      reservationId: 'dir-1',
      status: 'confirmed',
      unitTypeId: 'cabin',
      arrival: '2027-05-09',
      departure: '2027-05-10',
      guest,
    });
    expect(direct.statusCode).toBe(201);
  });

  async function parkSideView(channel: string, reservationId: string): Promise<Item> {
    const response = await harness.call('GET', `/parks/dune-camp/reservations/${channel}/${reservationId}`);
    expect(response.statusCode).toBe(200);
    return response.json<Item>();
  }

  it('shows guest data to its channel only', async () => {
    const pages = await readRange('reservations', { parkId: 'dune-camp', from: '2027-05-01', to: '2027-05-31', limit: 1 });
    expect(pages).toHaveLength(3);
    const [direct, hipcamp, pitchup] = pages.flatMap((page) => page.items);
    expect(direct?.reservationId).toBe('dir-1');
    expect(hipcamp?.reservationId).toBe('hc-1');
    expect(pitchup?.reservationId).toBe('pu-1');

    expect(hipcamp?.guest).toEqual(guest);
    expect(direct).not.toHaveProperty('guest');
    expect(pitchup).not.toHaveProperty('guest');

    expect(hipcamp).toEqual(await parkSideView('hipcamp', 'hc-1'));
    const { guest: _hidden, ...pitchupView } = await parkSideView('pitchup', 'pu-1');
    expect(pitchup).toEqual(pitchupView);
  });

  it('shows another channel its own guest data', async () => {
    const pages = await readRange('reservations', { parkId: 'dune-camp', from: '2027-05-01', to: '2027-05-31', limit: 10 }, { channel: 'pitchup', token: pitchupToken });
    const items = pages.flatMap((page) => page.items);
    const withGuest = items.filter((item) => Object.hasOwn(item, 'guest')).map((item) => item.reservationId);
    expect(withGuest).toEqual(['pu-1']);
  });

  it('hides guest data from operator tokens on the pull endpoint too', async () => {
    const pages = await readRange('reservations', { parkId: 'dune-camp', from: '2027-05-01', to: '2027-05-31', limit: 10 }, { token: duneReaderToken });
    const withGuest = pages.flatMap((page) => page.items).filter((item) => Object.hasOwn(item, 'guest')).map((item) => item.reservationId);
    expect(withGuest).toEqual(['hc-1']);
  });

  it('selects stays with a night in the range', async () => {
    // hc-1 departs on 2027-05-12, so its last night is 2027-05-11.
    const page = await pullPage('reservations', 'hipcamp', { parkId: 'dune-camp', from: '2027-05-12', to: '2027-05-31' });
    expect(page.items.map((item) => item.reservationId)).toEqual(['pu-1']);
  });

  it('includes cancellations in the feed', async () => {
    const start = await changesCursorOf('reservations', 'dune-camp');
    const availabilityStart = await changesCursorOf('availability', 'dune-camp');
    const cancelled = await sendWebhook(harness, {
      channel: 'hipcamp',
      kind: 'reservations',
      body: reservation('hc-1', { status: 'cancelled', arrival: '2027-05-10', departure: '2027-05-12' }),
      secret: hipcampSecret,
      version: 2,
    });
    expect(cancelled.statusCode).toBe(202);
    const directCancel = await harness.call('POST', '/parks/dune-camp/reservations', {
      reservationId: 'dir-1',
      status: 'cancelled',
      unitTypeId: 'cabin',
      arrival: '2027-05-09',
      departure: '2027-05-10',
      guest,
    });
    expect(directCancel.statusCode).toBe(200);

    const page = await pullPage('reservations', 'hipcamp', { parkId: 'dune-camp', sinceCursor: start });
    expect(page.items.map((item) => `${item.reservationId} ${item.status}`)).toEqual(['hc-1 cancelled', 'dir-1 cancelled']);
    expect(page.items[0]?.guest).toEqual(guest);
    expect(page.items[1]).not.toHaveProperty('guest');

    // The released nights come through the availability feed as well.
    const nights = await pullPage('availability', 'hipcamp', { parkId: 'dune-camp', sinceCursor: availabilityStart });
    expect(nights.items.map((item) => `${item.date} ${item.booked}`).sort()).toEqual(['2027-05-09 0', '2027-05-10 0', '2027-05-11 1']);
  });
});

/*
 * Proof that the change feed skips nothing when writers commit out of order.
 * These tests write over separate PostgreSQL connections, so they run only on
 * the real server; PGlite has a single connection.
 */
describe('concurrent writers', () => {
  const isPostgres = testDatabaseKind() === 'postgres';
  /** Every write uses this updated_at, so nothing can depend on timestamps to tell writes apart. */
  const SHARED_UPDATED_AT = '2026-12-04T12:00:00Z';

  async function connect(): Promise<pg.Client> {
    const client = new pg.Client({ connectionString: harness.database.url });
    await client.connect();
    return client;
  }

  async function writeNight(client: pg.Client, date: string, allotment: number): Promise<void> {
    await client.query(
      `insert into availability (park_id, unit_type_id, date, allotment, updated_at) values ('race-park', 'cabin', $1, $2, $3)
       on conflict (park_id, unit_type_id, date) do update set allotment = excluded.allotment, updated_at = excluded.updated_at`,
      [date, allotment, SHARED_UPDATED_AT],
    );
  }

  async function writeRate(client: pg.Client, date: string, amountMinor: number): Promise<void> {
    await client.query(
      `insert into rates (park_id, unit_type_id, rate_plan_id, date, amount_minor, updated_at) values ('race-park', 'cabin', 'standard', $1, $2, $3)
       on conflict (park_id, unit_type_id, rate_plan_id, date) do update set amount_minor = excluded.amount_minor, updated_at = excluded.updated_at`,
      [date, amountMinor, SHARED_UPDATED_AT],
    );
  }

  async function poll(kind: Kind, cursor: string, limit = 1000): Promise<Page> {
    return pullPage(kind, 'hipcamp', { parkId: 'race-park', sinceCursor: cursor, limit });
  }

  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

  it.runIf(isPostgres)('delivers a late commit after later writers', async () => {
    const start = await changesCursorOf('availability', 'race-park');
    const slow = await connect();
    const fast = await connect();
    try {
      await slow.query('begin');
      await writeNight(slow, '2027-06-01', 1);
      const slowSeq = Number((await slow.query(`select change_seq from availability where park_id = 'race-park' and date = '2027-06-01'`)).rows[0].change_seq);

      await fast.query('begin');
      await writeNight(fast, '2027-06-02', 2);
      await fast.query('commit');
      await writeNight(fast, '2027-06-03', 3);
      const committed = await fast.query(`select change_seq from availability where park_id = 'race-park' order by change_seq`);
      // The later writers hold higher sequence numbers, so "above the last seen" would move past the open write.
      expect(committed.rows.map((row) => Number(row.change_seq)).every((seq) => seq > slowSeq)).toBe(true);

      const whileOpen = await poll('availability', start);
      expect(whileOpen.items, 'rows after an open transaction wait for it').toEqual([]);
      expect(whileOpen.nextCursor).toBe(start);

      await slow.query('commit');
      const seen: Item[] = [];
      let cursor = start;
      for (let attempt = 0; attempt < 200 && seen.length < 3; attempt += 1) {
        const page = await poll('availability', cursor, 1);
        seen.push(...page.items);
        cursor = page.nextCursor as string;
        if (page.items.length === 0) await sleep(50);
      }
      expect(seen.map((item) => `${item.date} ${item.allotment}`)).toEqual(['2027-06-01 1', '2027-06-02 2', '2027-06-03 3']);
      expect((await poll('availability', cursor)).items, 'nothing is delivered twice').toEqual([]);
    } finally {
      await slow.query('rollback').catch(() => undefined);
      await slow.end();
      await fast.end();
    }
  });

  it.runIf(isPostgres)(
    'delivers the final state under random concurrent writers',
    async () => {
      const WRITERS = 6;
      const TRANSACTIONS = 40;
      const DATES = Array.from({ length: 12 }, (_, index) => `2027-07-${String(index + 1).padStart(2, '0')}`);
      const kinds = ['availability', 'rates'] as const;
      const cursors: Record<(typeof kinds)[number], string> = {
        availability: await changesCursorOf('availability', 'race-park'),
        rates: await changesCursorOf('rates', 'race-park'),
      };

      // Each write stores a version no other write uses: the allotment, or the rate in minor units.
      let lastVersion = 0;
      const rolledBack = new Set<string>();
      let writersDone = false;

      async function writer(): Promise<void> {
        const client = await connect();
        try {
          for (let transaction = 0; transaction < TRANSACTIONS; transaction += 1) {
            // Rows are written in one fixed order so transactions wait for each other but never deadlock.
            const targets = [...new Set(Array.from({ length: 1 + Math.floor(Math.random() * 4) }, () => {
              const kind = kinds[Math.floor(Math.random() * kinds.length)] as (typeof kinds)[number];
              return `${kind}|${DATES[Math.floor(Math.random() * DATES.length)]}`;
            }))].sort();
            const written: string[] = [];
            const rollback = Math.random() < 0.15;
            await client.query('begin');
            try {
              for (const target of targets) {
                const [kind, date] = target.split('|') as [string, string];
                lastVersion += 1;
                const version = lastVersion;
                written.push(`${kind}|${date}|${version}`);
                await (kind === 'availability' ? writeNight(client, date, version) : writeRate(client, date, version));
                await sleep(Math.random() * 8);
              }
              await client.query(rollback ? 'rollback' : 'commit');
              if (rollback) written.forEach((entry) => rolledBack.add(entry));
            } catch (error) {
              await client.query('rollback');
              written.forEach((entry) => rolledBack.add(entry));
              throw error;
            }
            await sleep(Math.random() * 5);
          }
        } finally {
          await client.end();
        }
      }

      const seen = new Map<string, number>();
      const delivered = new Set<string>();
      const repeated: string[] = [];

      async function pollOnce(kind: (typeof kinds)[number]): Promise<number> {
        const page = await poll(kind, cursors[kind], 1 + Math.floor(Math.random() * 8));
        for (const item of page.items) {
          const version = kind === 'availability' ? Number(item.allotment) : Number(item.amountMinor);
          const entry = `${kind}|${item.date}|${version}`;
          if (delivered.has(entry)) repeated.push(entry);
          delivered.add(entry);
          seen.set(`${kind}|${item.date}`, version);
        }
        cursors[kind] = page.nextCursor as string;
        return page.items.length;
      }

      async function finalState(): Promise<Map<string, number>> {
        const state = new Map<string, number>();
        const nights = await harness.ctx.db.selectFrom('availability').select(['date', 'allotment']).where('park_id', '=', 'race-park').where('date', '>=', '2027-07-01').execute();
        for (const row of nights) state.set(`availability|${row.date}`, row.allotment);
        const rates = await harness.ctx.db.selectFrom('rates').select(['date', 'amount_minor']).where('park_id', '=', 'race-park').execute();
        for (const row of rates) state.set(`rates|${row.date}`, row.amount_minor);
        return state;
      }

      const writing = Promise.all(Array.from({ length: WRITERS }, () => writer())).finally(() => {
        writersDone = true;
      });
      while (!writersDone) {
        for (const kind of kinds) await pollOnce(kind);
        await sleep(Math.random() * 5);
      }
      await writing;

      // Once the writers are done, the feed must reach the final state; a skipped row would keep it from ever getting there.
      const expected = await finalState();
      const deadline = Date.now() + 30_000;
      const sorted = (map: Map<string, number>) => [...map].sort(([a], [b]) => a.localeCompare(b));
      while (Date.now() < deadline && JSON.stringify(sorted(seen)) !== JSON.stringify(sorted(expected))) {
        let received = 0;
        for (const kind of kinds) received += await pollOnce(kind);
        if (received === 0) await sleep(50);
      }

      expect(expected.size).toBeGreaterThan(10);
      expect(sorted(seen), 'last version seen per row').toEqual(sorted(expected));
      expect(repeated, 'rows delivered twice without a new write').toEqual([]);
      expect([...delivered].filter((entry) => rolledBack.has(entry)), 'versions of rolled-back writes').toEqual([]);
      for (const kind of kinds) expect((await poll(kind, cursors[kind])).items, `${kind} after the end`).toEqual([]);
    },
    90_000,
  );
});
