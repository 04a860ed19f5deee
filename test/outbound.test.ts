import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDispatcher, type Dispatcher } from '../src/sync/dispatcher.ts';
import { startHarness, seedPark, type Harness } from './helpers/harness.ts';
import { connectSimulated, receivedCount, setMode, simulatorView, startSimulator, type Simulator } from './helpers/outbound.ts';
import { sendWebhook } from './helpers/webhooks.ts';

let harness: Harness;
let simulator: Simulator;
let dispatcher: Dispatcher;
const park = 'dune-camp';
const secrets: Record<string, string> = {};

/** Runs dispatcher passes until nothing is left to send or the pass limit is reached. */
async function drain(passes = 20): Promise<void> {
  for (let pass = 0; pass < passes; pass += 1) {
    const claimed = await dispatcher.runOnce();
    const open = await harness.ctx.db
      .selectFrom('outbound_deliveries')
      .select((eb) => eb.fn.countAll<number>().as('count'))
      .where('state', 'in', ['pending', 'in_flight'])
      .executeTakeFirstOrThrow();
    const dirty = await harness.ctx.db.selectFrom('outbound_dirty').select((eb) => eb.fn.countAll<number>().as('count')).executeTakeFirstOrThrow();
    if (claimed === 0 && Number(open.count) === 0 && Number(dirty.count) === 0) return;
  }
}

function availabilityOf(view: Awaited<ReturnType<typeof simulatorView>>, date: string) {
  return view.availability.find((night) => night.date === date)?.available;
}

beforeAll(async () => {
  harness = await startHarness();
  simulator = await startSimulator({ port: 0 });
  await seedPark(harness, park, { cabin: 5 });
  for (const channel of ['hipcamp', 'pitchup', 'airbnb']) {
    secrets[channel] = await connectSimulated(harness, simulator, park, channel);
  }
  dispatcher = startDispatcher(harness.ctx, { idleMs: Infinity });
});

afterAll(async () => {
  await dispatcher.stop();
  await simulator.close();
  await harness.close();
});

describe('fan-out', () => {
  it('delivers a webhook to every other connection and never back to the sender', async () => {
    const body = { parkId: park, updates: [{ unitTypeId: 'cabin', from: '2026-12-10', to: '2026-12-12', allotment: 3 }] };
    const response = await sendWebhook(harness, { channel: 'hipcamp', kind: 'availability', body, secret: secrets.hipcamp ?? '', version: 1 });
    expect(response.statusCode).toBe(202);
    await drain();
    expect(availabilityOf(await simulatorView(simulator, 'pitchup', park), '2026-12-11')).toBe(3);
    expect(availabilityOf(await simulatorView(simulator, 'airbnb', park), '2026-12-11')).toBe(3);
    expect(await receivedCount(simulator, 'hipcamp')).toBe(0);
  });

  it('bundles equal consecutive nights into one range', async () => {
    const received = await fetch(`${simulator.url}/_control/received?channel=pitchup`);
    const items = ((await received.json()) as { items: Array<{ body?: { updates?: unknown[] } }> }).items;
    expect(items).toHaveLength(1);
  });
});

describe('failures', () => {
  it('retries a channel answering 503 until it recovers', async () => {
    await setMode(simulator, 'airbnb', { mode: 'fail', status: 503, count: 2 });
    await harness.call('POST', `/parks/${park}/availability`, { updates: [{ unitTypeId: 'cabin', from: '2026-12-20', to: '2026-12-20', allotment: 2 }] });
    for (let round = 0; round < 5; round += 1) {
      await drain(3);
      harness.clock.advance(10 * 60_000);
    }
    expect(availabilityOf(await simulatorView(simulator, 'airbnb', park), '2026-12-20')).toBe(2);
  });

  it('dead-letters a 400 at once', async () => {
    await setMode(simulator, 'pitchup', { mode: 'fail', status: 400, count: 1 });
    await harness.call('POST', `/parks/${park}/availability`, { updates: [{ unitTypeId: 'cabin', from: '2026-12-21', to: '2026-12-21', allotment: 1 }] });
    await drain();
    const dead = await harness.ctx.db.selectFrom('outbound_deliveries').selectAll().where('channel', '=', 'pitchup').where('state', '=', 'dead').execute();
    expect(dead).toHaveLength(1);
    expect(dead[0]?.last_http_status).toBe(400);
    expect(dead[0]?.attempts).toBe(1);
  });
});

describe('dead-letter queue', () => {
  it('lists the dead delivery and redrives it with the current state', async () => {
    const listed = await harness.call('GET', `/channels/pitchup/dlq?parkId=${park}`);
    expect(listed.statusCode).toBe(200);
    expect(listed.json().items).toHaveLength(1);
    expect(listed.json().items[0]).toMatchObject({ lastHttpStatus: 400, kind: 'availability' });
    await harness.call('POST', `/parks/${park}/availability`, { updates: [{ unitTypeId: 'cabin', from: '2026-12-21', to: '2026-12-21', allotment: 4 }] });
    const retried = await harness.call('POST', '/channels/pitchup/dlq/retry', { parkId: park });
    expect(retried.statusCode).toBe(200);
    expect(retried.json().redriven).toHaveLength(1);
    await drain();
    expect(availabilityOf(await simulatorView(simulator, 'pitchup', park), '2026-12-21')).toBe(4);
    expect((await harness.call('GET', `/channels/pitchup/dlq?parkId=${park}`)).json().items).toEqual([]);
  });
});

describe('pause and resume', () => {
  it('sends nothing while paused and everything after resume', async () => {
    const paused = await harness.call('POST', '/channels/airbnb/pause', { parkId: park, reason: 'channel maintenance window' });
    expect(paused.json().paused).toEqual([park]);
    const before = await receivedCount(simulator, 'airbnb');
    await harness.call('POST', `/parks/${park}/availability`, { updates: [{ unitTypeId: 'cabin', from: '2026-12-22', to: '2026-12-23', allotment: 5 }] });
    await dispatcher.runOnce();
    await dispatcher.runOnce();
    expect(await receivedCount(simulator, 'airbnb')).toBe(before);

    await setMode(simulator, 'airbnb', { mode: 'fail', status: 503 });
    const refused = await harness.call('POST', '/channels/airbnb/resume', { parkId: park });
    expect(refused.statusCode).toBe(409);
    expect(refused.json().code).toBe('health_check_failed');

    await setMode(simulator, 'airbnb', { mode: 'ok' });
    const resumed = await harness.call('POST', '/channels/airbnb/resume', { parkId: park });
    expect(resumed.statusCode).toBe(200);
    expect(resumed.json().resumed).toEqual([park]);
    await drain();
    expect(availabilityOf(await simulatorView(simulator, 'airbnb', park), '2026-12-23')).toBe(5);
  });

  it('audits pause and resume with who and why', async () => {
    const audit = await harness.call('GET', `/audit?parkId=${park}&channel=airbnb`);
    const actions = audit.json().items.map((item: { action: string }) => item.action);
    expect(actions).toEqual(expect.arrayContaining(['connection.pause', 'connection.resume']));
  });
});

describe('410 Gone', () => {
  it('dead-letters the delivery and pauses the connection', async () => {
    await setMode(simulator, 'hipcamp', { mode: 'fail', status: 410, count: 1 });
    await harness.call('POST', `/parks/${park}/availability`, { updates: [{ unitTypeId: 'cabin', from: '2026-12-24', to: '2026-12-24', allotment: 1 }] });
    await drain();
    const connection = await harness.call('GET', `/parks/${park}/channels/hipcamp`);
    expect(connection.json()).toMatchObject({ paused: true });
    expect(connection.json().pausedReason).toMatch(/410/);
  });
});

describe('sender echo', () => {
  it('sends the sender its available count where bookings reduce its allotment', async () => {
    await harness.call('POST', '/channels/hipcamp/resume', { parkId: park, force: true });
    await harness.call('POST', `/parks/${park}/availability`, { updates: [{ unitTypeId: 'cabin', from: '2027-01-10', to: '2027-01-11', allotment: 2 }] });
    await harness.call('POST', `/parks/${park}/reservations`, { status: 'confirmed', unitTypeId: 'cabin', arrival: '2027-01-10', departure: '2027-01-11' });
    await drain();
    const body = { parkId: park, updates: [{ unitTypeId: 'cabin', from: '2027-01-10', to: '2027-01-11', allotment: 3 }] };
    expect((await sendWebhook(harness, { channel: 'hipcamp', kind: 'availability', body, secret: secrets.hipcamp ?? '', version: 50 })).statusCode).toBe(202);
    await drain();
    const view = await simulatorView(simulator, 'hipcamp', park);
    expect(view.availability.find((night) => night.date === '2027-01-10')?.available).toBe(2);
    expect(view.availability.find((night) => night.date === '2027-01-11')?.available).toBe(2);
    const echoed = (await harness.ctx.db
      .selectFrom('outbound_deliveries')
      .select('payload')
      .where('channel', '=', 'hipcamp')
      .orderBy('version', 'desc')
      .executeTakeFirstOrThrow()).payload as { updates: Array<{ from: string; to: string }> };
    expect(echoed.updates.map((update) => [update.from, update.to])).toEqual([['2027-01-10', '2027-01-10']]);
  });
});
