import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addDays } from '../src/lib/dates.ts';
import { startDispatcher, type Dispatcher } from '../src/sync/dispatcher.ts';
import { markDirty } from '../src/sync/dirty.ts';
import { startHarness, seedPark, type Harness } from './helpers/harness.ts';
import { connectSimulated, simulatorView, startSimulator, type Simulator } from './helpers/outbound.ts';

let harness: Harness;
let simulator: Simulator;
let dispatcher: Dispatcher;

async function deliveriesOf(parkId: string, channel: string) {
  return harness.ctx.db.selectFrom('outbound_deliveries').selectAll().where('park_id', '=', parkId).where('channel', '=', channel).orderBy('version').execute();
}

beforeAll(async () => {
  harness = await startHarness();
  simulator = await startSimulator({ port: 0 });
  dispatcher = startDispatcher(harness.ctx, { idleMs: Infinity });
});

afterAll(async () => {
  await dispatcher.stop();
  await simulator.close();
  await harness.close();
});

describe('full sync', () => {
  it('sends 20 unit types over 500 days in one delivery of 20 ranges', async () => {
    const unitTypes = Object.fromEntries(Array.from({ length: 20 }, (_, index) => [`type-${index}`, 10]));
    await seedPark(harness, 'big-park', unitTypes);
    await connectSimulated(harness, simulator, 'big-park', 'hipcamp');
    const updates = Object.keys(unitTypes).map((unitTypeId) => ({ unitTypeId, from: '2026-12-05', to: addDays('2026-12-05', 499), allotment: 3 }));
    expect((await harness.call('POST', '/parks/big-park/availability', { updates })).statusCode).toBe(200);
    await dispatcher.runOnce();
    const deliveries = await deliveriesOf('big-park', 'hipcamp');
    expect(deliveries).toHaveLength(1);
    expect(deliveries[0]?.state).toBe('delivered');
    expect((deliveries[0]?.payload as { updates: unknown[] }).updates).toHaveLength(20);
    const view = await simulatorView(simulator, 'hipcamp', 'big-park');
    expect(view.availability).toHaveLength(10_000);
  });
});

describe('adapter limits', () => {
  it('splits more than 1,000 ranges across deliveries and loses no night', async () => {
    await seedPark(harness, 'zigzag', { cabin: 2 });
    await connectSimulated(harness, simulator, 'zigzag', 'hipcamp');
    const nights = Array.from({ length: 1500 }, (_, index) => addDays('2026-12-05', index));
    await sql`
      insert into availability (park_id, unit_type_id, date, allotment)
      select 'zigzag', 'cabin', night::date, (row_number() over (order by night)) % 2
      from unnest(${nights}::date[]) as night
    `.execute(harness.ctx.db);
    await markDirty(harness.ctx.db, { parkId: 'zigzag', kind: 'availability', unitTypeId: 'cabin', dates: nights, sourceChannel: null });
    for (let pass = 0; pass < 4; pass += 1) await dispatcher.runOnce();
    const deliveries = await deliveriesOf('zigzag', 'hipcamp');
    expect(deliveries.map((delivery) => (delivery.payload as { updates: unknown[] }).updates.length)).toEqual([1000, 500]);
    const received = await simulatorView(simulator, 'hipcamp', 'zigzag');
    expect(received.availability).toHaveLength(1500);
    expect(received.availability.find((night) => night.date === nights[1])?.available).toBe(0);
    expect(received.availability.find((night) => night.date === nights[0])?.available).toBe(1);
  });
});

describe('rateLimitOut', () => {
  it('defers a delivery over the limit without spending an attempt', async () => {
    await seedPark(harness, 'throttled', { cabin: 2 });
    await connectSimulated(harness, simulator, 'throttled', 'hipcamp', { rateLimitOut: { perSecond: 1, burst: 1 } });
    await harness.call('POST', '/parks/throttled/availability', { updates: [{ unitTypeId: 'cabin', from: '2026-12-10', to: '2026-12-10', allotment: 1 }] });
    await harness.call('POST', '/parks/throttled/rates', { currency: 'EUR', updates: [{ unitTypeId: 'cabin', from: '2026-12-10', to: '2026-12-10', amount: '50.00' }] });
    await dispatcher.runOnce();
    const deliveries = await deliveriesOf('throttled', 'hipcamp');
    expect(deliveries.map((delivery) => delivery.state).sort()).toEqual(['delivered', 'pending']);
    const deferred = deliveries.find((delivery) => delivery.state === 'pending');
    expect(deferred?.attempts).toBe(0);
    expect(deferred?.next_attempt_at.getTime()).toBeGreaterThan(harness.clock.now().getTime());
    harness.clock.advance(1000);
    await dispatcher.runOnce();
    expect((await deliveriesOf('throttled', 'hipcamp')).every((delivery) => delivery.state === 'delivered')).toBe(true);
  });
});
