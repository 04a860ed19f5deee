import { addDays, todayIn } from '../../src/lib/dates.ts';
import type { DemoStack } from './stack.ts';

export const CHANNELS = ['hipcamp', 'pitchup'] as const;
export type DemoChannel = (typeof CHANNELS)[number];

export interface UnitTypeSpec {
  unitTypeId: string;
  name: string;
  units: number;
}

/** The demo park, its unit types, the nights it plays with and each connection's signing secret. */
export interface DemoPark {
  parkId: string;
  currency: string;
  unitTypes: UnitTypeSpec[];
  /** Five consecutive nights, the first 30 days from today in the park's timezone. */
  nights: string[];
  secrets: Record<DemoChannel, string>;
}

const PARK = { parkId: 'dune-camp', name: 'Dune Camp', timezone: 'Europe/Amsterdam', currency: 'EUR' };
const UNIT_TYPES: UnitTypeSpec[] = [
  { unitTypeId: 'cabin', name: 'Beach cabin', units: 4 },
  { unitTypeId: 'pitch', name: 'Tent pitch', units: 12 },
];

function nightsFromToday(timezone: string, offsetDays: number, count: number): string[] {
  const first = addDays(todayIn(timezone, new Date()), offsetDays);
  return Array.from({ length: count }, (_, index) => addDays(first, index));
}

/**
 * Connects one simulated channel: the connection's endpointUrl points at the
 * simulator, the simulator learns the signing secret so it can verify
 * deliveries, and the connection's webhook flag moves from shadow to on.
 */
async function connectChannel(stack: DemoStack, parkId: string, channel: DemoChannel): Promise<string> {
  const created = (await stack.api.expect(
    'PUT',
    `/parks/${parkId}/channels/${channel}`,
    { endpointUrl: `${stack.simulator.url}/channels/${channel}` },
    [201],
  )) as { secret: string };
  const registered = await fetch(`${stack.simulator.url}/_control/connections/${channel}/${parkId}`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ secret: created.secret }),
  });
  if (!registered.ok) {
    throw new Error(`the simulator rejected the ${channel} connection: ${registered.status} ${await registered.text()}`);
  }
  await stack.api.expect('PUT', '/flags/channel_sync_webhooks', { value: 'on', channel, parkId, note: 'demo run' }, [200]);
  return created.secret;
}

/** Creates the park with its unit types and connects both channels. */
export async function createPark(stack: DemoStack): Promise<DemoPark> {
  const { parkId } = PARK;
  await stack.api.expect('POST', '/parks', PARK, [201]);
  for (const unitType of UNIT_TYPES) {
    await stack.api.expect('PUT', `/parks/${parkId}/unit-types/${unitType.unitTypeId}`, { name: unitType.name, units: unitType.units }, [201]);
  }
  const secrets = {} as Record<DemoChannel, string>;
  for (const channel of CHANNELS) secrets[channel] = await connectChannel(stack, parkId, channel);
  return { parkId, currency: PARK.currency, unitTypes: UNIT_TYPES, nights: nightsFromToday(PARK.timezone, 30, 5), secrets };
}

/**
 * Sets allotment and rates from the park side, and books three pitches at the
 * front desk for the first two nights. A change made in parksync itself goes
 * out to every connection. Returns the lines that describe what was set.
 */
export async function stockPark(stack: DemoStack, park: DemoPark): Promise<string[]> {
  const [first, , third, , last] = park.nights as [string, string, string, string, string];
  await stack.api.expect(
    'POST',
    `/parks/${park.parkId}/availability`,
    {
      updates: [
        { unitTypeId: 'cabin', from: first, to: last, allotment: 4 },
        { unitTypeId: 'pitch', from: first, to: last, allotment: 10 },
      ],
    },
    [200],
  );
  await stack.api.expect(
    'POST',
    `/parks/${park.parkId}/rates`,
    {
      currency: park.currency,
      updates: [
        { unitTypeId: 'cabin', from: first, to: addDays(third, -1), amount: '129.00' },
        { unitTypeId: 'cabin', from: third, to: last, amount: '149.00' },
        { unitTypeId: 'pitch', from: first, to: last, amount: '38.50' },
      ],
    },
    [200],
  );
  await stack.api.expect(
    'POST',
    `/parks/${park.parkId}/reservations`,
    { reservationId: 'desk-0001', status: 'confirmed', unitTypeId: 'pitch', arrival: first, departure: third, units: 3, guests: 6 },
    [201],
  );
  return [
    `park side: allotment cabin 4 and pitch 10 on ${first}..${last}`,
    `           rates cabin 129.00, and 149.00 from ${third}; pitch 38.50`,
    `           the front desk books 3 pitches, ${first} → ${third}`,
  ];
}
