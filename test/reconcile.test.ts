import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../src/lib/clock.ts';
import { addDays } from '../src/lib/dates.ts';
import { scheduleReconciles } from '../src/reconcile/scheduler.ts';
import { runDueReconcileJobs } from '../src/reconcile/worker.ts';
import { changesFrom, encodeCursor } from '../src/pull/cursor.ts';
import { readAvailabilityChanges, readHorizon } from '../src/pull/queries.ts';
import { startDispatcher, type Dispatcher } from '../src/sync/dispatcher.ts';
import { startHarness, seedPark, type Harness } from './helpers/harness.ts';
import { connectSimulated, setMode, simulatorView, startSimulator, type Simulator } from './helpers/outbound.ts';

let harness: Harness;
let simulator: Simulator;
let dispatcher: Dispatcher;
const park = 'dune-camp';
const from = '2026-12-05';
const to = addDays(from, 59);

async function drain(): Promise<void> {
  for (let pass = 0; pass < 10; pass += 1) await dispatcher.runOnce();
}

async function job(channel: string, jobId: string) {
  return (await harness.call('GET', `/channels/${channel}/reconcile/${jobId}`)).json();
}

beforeAll(async () => {
  harness = await startHarness({ clock: new ManualClock('2026-12-04T12:00:00Z') });
  simulator = await startSimulator({ port: 0 });
  dispatcher = startDispatcher(harness.ctx, { idleMs: Infinity });
  await seedPark(harness, park, { cabin: 8, pitch: 8, tent: 8 });
  await connectSimulated(harness, simulator, park, 'hipcamp');
  const updates = ['cabin', 'pitch', 'tent'].map((unitTypeId) => ({ unitTypeId, from, to, allotment: 4 }));
  await harness.call('POST', `/parks/${park}/availability`, { updates });
  await harness.call('POST', `/parks/${park}/rates`, { currency: 'EUR', updates: [{ unitTypeId: 'cabin', from, to, amount: '90.00' }] });
  await drain();
});

afterAll(async () => {
  await dispatcher.stop();
  await simulator.close();
  await harness.close();
});

describe('reconcile', () => {
  it('finds 50 drifted nights and restores all of them', async () => {
    const view = await simulatorView(simulator, 'hipcamp', park);
    expect(view.availability).toHaveLength(180);
    const shuffled = [...view.availability].sort(() => Math.random() - 0.5).slice(0, 50);
    simulator.state.applyAvailability(
      'hipcamp',
      park,
      shuffled.map((night) => ({ unitTypeId: night.unitTypeId, from: night.date, to: night.date, available: 0 })),
      // A low version, so the channel still accepts parksync's corrections after this local change.
      1,
    );

    const requested = await harness.call('POST', '/channels/hipcamp/reconcile', { parkId: park, from, to });
    expect(requested.statusCode).toBe(202);
    const jobId = requested.json().jobId as string;
    expect((await job('hipcamp', jobId)).state).toBe('queued');

    await runDueReconcileJobs(harness.ctx);
    const finished = await job('hipcamp', jobId);
    expect(finished).toMatchObject({ state: 'succeeded', checked: 240, drifted: 50, corrected: 50 });
    const driftEvents = await harness.ctx.db.selectFrom('channel_sync_events').select('detail').where('status', '=', 'drift').execute();
    expect(driftEvents).toHaveLength(50);

    await drain();
    const restored = await simulatorView(simulator, 'hipcamp', park);
    expect(restored.availability.filter((night) => night.available !== 4)).toEqual([]);
  });

  it('returns the active job instead of starting a second one', async () => {
    const first = await harness.call('POST', '/channels/hipcamp/reconcile', { parkId: park, from, to });
    const second = await harness.call('POST', '/channels/hipcamp/reconcile', { parkId: park, from, to });
    expect(second.json().jobId).toBe(first.json().jobId);
    expect(second.json().created).toBe(false);
    await runDueReconcileJobs(harness.ctx);
  });

  it('rejects a request with neither a range nor a cursor', async () => {
    const response = await harness.call('POST', '/channels/hipcamp/reconcile', { parkId: park });
    expect(response.statusCode).toBe(422);
  });

  it('queues a failed job again and fails it after three attempts', async () => {
    await setMode(simulator, 'hipcamp', { mode: 'fail', status: 500 });
    const requested = await harness.call('POST', '/channels/hipcamp/reconcile', { parkId: park, from, to });
    const jobId = requested.json().jobId as string;
    await runDueReconcileJobs(harness.ctx, 1);
    expect(await job('hipcamp', jobId)).toMatchObject({ state: 'queued', attempts: 1 });
    expect((await job('hipcamp', jobId)).lastError).toMatch(/500/);
    await runDueReconcileJobs(harness.ctx, 2);
    expect(await job('hipcamp', jobId)).toMatchObject({ state: 'failed', attempts: 3 });
    await setMode(simulator, 'hipcamp', { mode: 'ok' });
  });
});

describe('delta reconcile', () => {
  it('checks only the nights changed since the cursor', async () => {
    const cursor = encodeCursor({
      mode: 'changes',
      kind: 'availability',
      parkId: park,
      channel: 'hipcamp',
      position: changesFrom(await readHorizon(harness.ctx.db)),
    });
    await harness.call('POST', `/parks/${park}/availability`, { updates: [{ unitTypeId: 'tent', from: '2026-12-20', to: '2026-12-21', allotment: 6 }] });
    await drain();
    simulator.state.applyAvailability('hipcamp', park, [{ unitTypeId: 'tent', from: '2026-12-21', to: '2026-12-21', available: 1 }], 1);
    simulator.state.applyAvailability('hipcamp', park, [{ unitTypeId: 'cabin', from: '2026-12-22', to: '2026-12-22', available: 1 }], 1);

    // The feed shows a change once no older transaction is still open anywhere on the server; other
    // test files share that server, so wait (bounded) until both changed nights are readable.
    const start = { txid: JSON.parse(Buffer.from(cursor, 'base64url').toString()).txid as string, seq: 0 };
    const deadline = Date.now() + 20_000;
    while ((await readAvailabilityChanges(harness.ctx.db, park, start, 10)).items.length < 2) {
      if (Date.now() > deadline) throw new Error('the change feed did not show the two changed nights within 20 s');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const requested = await harness.call('POST', '/channels/hipcamp/reconcile', { parkId: park, sinceCursor: cursor });
    expect(requested.statusCode).toBe(202);
    await runDueReconcileJobs(harness.ctx);
    const finished = await job('hipcamp', requested.json().jobId);
    expect(finished).toMatchObject({ state: 'succeeded', checked: 2, drifted: 1, corrected: 1 });
    // The cabin night changed only at the channel, after the cursor's changes; a full run would find it.
    await drain();
    const view = await simulatorView(simulator, 'hipcamp', park);
    expect(view.availability.find((night) => night.unitTypeId === 'tent' && night.date === '2026-12-21')?.available).toBe(6);
    const full = await harness.call('POST', '/channels/hipcamp/reconcile', { parkId: park, from, to });
    await runDueReconcileJobs(harness.ctx);
    expect(await job('hipcamp', full.json().jobId)).toMatchObject({ drifted: 1 });
    await drain();
  });

  it('rejects a cursor of another park or a malformed one', async () => {
    const foreign = encodeCursor({ mode: 'changes', kind: 'availability', parkId: 'other-park', channel: 'hipcamp', position: { txid: '1', seq: 0 } });
    for (const sinceCursor of [foreign, 'not-a-cursor']) {
      const response = await harness.call('POST', '/channels/hipcamp/reconcile', { parkId: park, sinceCursor });
      expect(response.statusCode).toBe(422);
      expect(response.json().errors[0].field).toBe('sinceCursor');
    }
  });
});

describe('scheduler', () => {
  it('queues nothing while channel_reconcile_jobs is off', async () => {
    expect(await scheduleReconciles(harness.ctx)).toBe(0);
  });

  it('queues a delta run, and the next one only after the cadence', async () => {
    await harness.call('PUT', '/flags/channel_reconcile_jobs', { value: 'cadence:30m', channel: 'hipcamp', parkId: park });
    harness.ctx.flags.invalidate();
    harness.clock.set('2026-12-04T12:00:00Z');
    expect(await scheduleReconciles(harness.ctx)).toBe(1);
    const queued = await harness.ctx.db.selectFrom('reconcile_jobs').selectAll().where('state', '=', 'queued').execute();
    expect(queued.map((row) => row.trigger)).toEqual(['delta']);
    await runDueReconcileJobs(harness.ctx);
    harness.clock.advance(10 * 60_000);
    expect(await scheduleReconciles(harness.ctx)).toBe(0);
    harness.clock.advance(21 * 60_000);
    expect(await scheduleReconciles(harness.ctx)).toBe(1);
    const second = await harness.ctx.db.selectFrom('reconcile_jobs').selectAll().where('state', '=', 'queued').execute();
    expect(second[0]?.since_cursor).toEqual(expect.any(String));
    await runDueReconcileJobs(harness.ctx);
    const done = await harness.ctx.db.selectFrom('reconcile_jobs').selectAll().where('job_id', '=', second[0]?.job_id ?? '').executeTakeFirstOrThrow();
    expect(done.state).toBe('succeeded');
  });

  it("queues the nightly full run at 03:00 in the park's timezone, once a night", async () => {
    // 02:10 UTC is 03:10 in Amsterdam in winter.
    harness.clock.set('2026-12-05T02:10:00Z');
    expect(await scheduleReconciles(harness.ctx)).toBe(1);
    const nightly = await harness.ctx.db.selectFrom('reconcile_jobs').selectAll().where('trigger', '=', 'nightly').execute();
    expect(nightly).toHaveLength(1);
    expect(nightly[0]).toMatchObject({ range_from: '2026-12-05', range_to: addDays('2026-12-05', 364) });
    await runDueReconcileJobs(harness.ctx);
    harness.clock.set('2026-12-05T02:40:00Z');
    await scheduleReconciles(harness.ctx);
    const again = await harness.ctx.db.selectFrom('reconcile_jobs').selectAll().where('trigger', '=', 'nightly').execute();
    expect(again).toHaveLength(1);
  });
});

describe('reconcile without an endpoint', () => {
  it('rejects the request, naming the missing endpoint', async () => {
    await harness.call('PUT', `/parks/${park}/channels/inbound-only`, {});
    const response = await harness.call('POST', '/channels/inbound-only/reconcile', { parkId: park, from, to });
    expect(response.statusCode).toBe(422);
    expect(response.json().detail).toMatch(/endpointUrl/);
  });
});
