import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addDays } from '../src/lib/dates.ts';
import { webhookFallbacks } from '../src/observability/metrics.ts';
import { fieldMask, statementParameters, statementText } from '../src/webhooks/one-statement-sql.ts';
import { startHarness, seedPark, type Harness } from './helpers/harness.ts';
import { connectChannel, sendWebhook } from './helpers/webhooks.ts';

/**
 * The one-statement apply of an availability webhook builds its SQL apart
 * from the park-side write (availabilityWrite). Random non-overlapping
 * updates go to one park through a webhook and to a twin park through the
 * park API; both parks must end with the same nights and the same marks for
 * the other connection.
 */

let harness: Harness;
let secret: string;
const viaWebhook = 'webhook-park';
const viaApi = 'api-park';
const UNIT_TYPES = { cabin: 5, pitch: 3 };
const FIRST_NIGHT = '2027-06-01';
const NIGHTS = 12;

const stay = fc.option(fc.integer({ min: 1, max: 30 }), { nil: null });
const fields = fc.record(
  {
    allotment: fc.integer({ min: 0, max: 6 }),
    stopSell: fc.boolean(),
    minStay: stay,
    minStayArrival: stay,
    minStayThrough: stay,
    maxStay: stay,
    closedToArrival: fc.boolean(),
    closedToDeparture: fc.boolean(),
  },
  { requiredKeys: [] },
).map((set) => {
  // Keep to what validation accepts: at least one field, one minimum stay on arrival, and maxStay not below it.
  const valid: Partial<typeof set> = Object.keys(set).length === 0 ? { allotment: 1 } : { ...set };
  if (valid.minStayArrival !== undefined) delete valid.minStay;
  const minStay = valid.minStayArrival ?? valid.minStay;
  if (typeof minStay === 'number' && typeof valid.maxStay === 'number' && valid.maxStay < minStay) valid.maxStay = minStay;
  return valid;
});

/** Up to six updates whose ranges never share a night of a unit type. */
const updates = fc
  .array(
    fc.record({
      unitTypeId: fc.constantFrom(...Object.keys(UNIT_TYPES)),
      start: fc.integer({ min: 0, max: NIGHTS - 1 }),
      length: fc.integer({ min: 1, max: 4 }),
      fields,
    }),
    { minLength: 1, maxLength: 6 },
  )
  .map((drafts) => {
    const usedNights = new Set<string>();
    return drafts.flatMap(({ unitTypeId, start, length, fields: set }) => {
      const nights = Array.from({ length: Math.min(length, NIGHTS - start) }, (_, index) => `${unitTypeId}/${start + index}`);
      if (nights.some((night) => usedNights.has(night))) return [];
      for (const night of nights) usedNights.add(night);
      return [{ unitTypeId, from: addDays(FIRST_NIGHT, start), to: addDays(FIRST_NIGHT, start + nights.length - 1), ...set }];
    });
  });

interface Night {
  unitTypeId: string;
  date: string;
  allotment: number;
  booked: number;
}

async function nightsOf(parkId: string) {
  const last = addDays(FIRST_NIGHT, NIGHTS - 1);
  const response = await harness.call('GET', `/parks/${parkId}/availability?from=${FIRST_NIGHT}&to=${last}`);
  expect(response.statusCode).toBe(200);
  return response.json().items;
}

async function marksFor(parkId: string, channel: string) {
  const rows = await harness.ctx.db
    .selectFrom('outbound_dirty')
    .select(['unit_type_id', 'date'])
    .where('park_id', '=', parkId)
    .where('channel', '=', channel)
    .where('kind', '=', 'availability')
    .orderBy('unit_type_id')
    .orderBy('date')
    .execute();
  return rows.map((row) => `${row.unit_type_id}/${row.date}`);
}

beforeAll(async () => {
  harness = await startHarness();
  for (const parkId of [viaWebhook, viaApi]) {
    await seedPark(harness, parkId, UNIT_TYPES);
    const seeded = await harness.call('POST', `/parks/${parkId}/availability`, {
      updates: [{ unitTypeId: 'cabin', from: FIRST_NIGHT, to: addDays(FIRST_NIGHT, NIGHTS - 1), allotment: 2, minStay: 2 }],
    });
    expect(seeded.statusCode).toBe(200);
    // Bookings on some nights, so a lower allotment leaves a conflict and the sender is sent the available count.
    const reserved = await harness.call('POST', `/parks/${parkId}/reservations`, {
      reservationId: `twin-${parkId}`,
      unitTypeId: 'cabin',
      arrival: addDays(FIRST_NIGHT, 2),
      departure: addDays(FIRST_NIGHT, 5),
      status: 'confirmed',
    });
    expect(reserved.statusCode, reserved.body).toBe(201);
  }
  secret = await connectChannel(harness, viaWebhook, 'hipcamp');
  for (const parkId of [viaWebhook, viaApi]) await connectChannel(harness, parkId, 'pitchup');
});

afterAll(async () => {
  await harness.close();
});

async function fallbackCount(): Promise<number> {
  return (await webhookFallbacks.get()).values.reduce((sum, sample) => sum + sample.value, 0);
}

describe('one-statement availability apply', () => {
  it('matches the park-side write for any fields', async () => {
    let version = 0;
    await fc.assert(
      fc.asyncProperty(updates, async (sent) => {
        version += 1;
        // Each run starts without marks, so a missing or extra mark shows.
        await harness.ctx.db.deleteFrom('outbound_dirty').where('park_id', 'in', [viaWebhook, viaApi]).execute();
        const fallbacksBefore = await fallbackCount();
        const key = `twin-${version}`;
        const webhook = await sendWebhook(harness, { kind: 'availability', body: { parkId: viaWebhook, updates: sent }, secret, version, key });
        expect(webhook.statusCode).toBe(202);
        // The request took the one-statement path: nothing sent it through the checks one by one.
        expect(await fallbackCount()).toBe(fallbacksBefore);
        const direct = await harness.call('POST', `/parks/${viaApi}/availability`, { updates: sent });
        expect(direct.statusCode).toBe(200);

        expect(await nightsOf(viaWebhook)).toEqual(await nightsOf(viaApi));
        expect(await marksFor(viaWebhook, 'pitchup')).toEqual(await marksFor(viaApi, 'pitchup'));

        // Conflicts list the request's nights left with more booked than the allotment, update by update.
        const after = new Map<string, Night>((await nightsOf(viaWebhook)).map((night: Night) => [`${night.unitTypeId}/${night.date}`, night]));
        const requested = sent.flatMap((update) =>
          [...after.values()].filter((night) => night.unitTypeId === update.unitTypeId && update.from <= night.date && night.date <= update.to),
        );
        const conflicts = requested
          .filter((night) => night.booked > night.allotment)
          .map(({ unitTypeId, date, allotment, booked }) => ({ unitTypeId, date, allotment, booked }));
        expect(webhook.json().conflicts ?? []).toEqual(conflicts);
        const [event] = await harness.ctx.db.selectFrom('channel_sync_events').select(['status', 'detail']).where('idempotency_key', '=', key).execute();
        expect(event?.status).toBe(conflicts.length > 0 ? 'conflict' : 'applied');
        expect(event?.detail).toEqual({ updates: sent.length, nights: requested.length, conflicts: conflicts.length, conflictNights: conflicts.slice(0, 20) });

        // The sender is sent back the nights where it set an allotment and units are booked, and no others.
        const returned = sent
          .filter((update) => update.allotment !== undefined)
          .flatMap((update) => requested.filter((night) => night.unitTypeId === update.unitTypeId && update.from <= night.date && night.date <= update.to))
          .filter((night) => night.booked > 0)
          .map((night) => `${night.unitTypeId}/${night.date}`)
          .sort();
        expect(await marksFor(viaWebhook, 'hipcamp')).toEqual(returned);
      }),
      { numRuns: 25 },
    );
  });
});

describe('one-statement text', () => {
  it('has a parameter for every placeholder', () => {
    const update = { unitTypeId: 'cabin', from: FIRST_NIGHT, to: FIRST_NIGHT, allotment: 1, minStay: 2 };
    const masks = [fieldMask(update)];
    const text = statementText(masks);
    const highest = Math.max(...[...text.matchAll(/\$(\d+)/g)].map((match) => Number(match[1])));
    const parameters = statementParameters({
      parkId: viaWebhook,
      channel: 'hipcamp',
      now: new Date(),
      version: 1,
      entityKeys: ['cabin/2027-06-01'],
      updates: [update],
      masks,
      scope: { channel: 'hipcamp', endpoint: 'availability', key: 'k', parkId: viaWebhook },
      fingerprint: 'f',
      cachedStamp: null,
      event: { eventId: 'e', occurredAt: new Date(), parkId: viaWebhook, channel: 'hipcamp', direction: 'inbound', kind: 'availability', status: 'applied' },
    });
    expect(parameters).toHaveLength(highest);
  });
});
