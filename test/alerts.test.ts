import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { evaluateAlerts, refreshAlertMetrics, runAlertJob } from '../src/alerts/evaluate.ts';
import type { AlertTransition } from '../src/alerts/notify.ts';
import {
  DEFAULT_ALERT_THRESHOLDS,
  judgeOverbookBlocks,
  judgePublishFailures,
  judgeRetryQueue,
  judgeVersionConflicts,
  judgeWebhookSuccess,
} from '../src/alerts/rules.ts';
import { generateSigningSecret } from '../src/channels/secrets.ts';
import { loadConfig } from '../src/config.ts';
import { metricsRegistry, overbookBlocks, publishValidationFailures } from '../src/observability/metrics.ts';
import { recordSyncEvent } from '../src/observability/sync-events.ts';
import { startDispatcher, type Dispatcher } from '../src/sync/dispatcher.ts';
import { signBody } from '../src/webhooks/signature.ts';
import { seedPark, startHarness, type Harness } from './helpers/harness.ts';
import { connectSimulated, setMode, startSimulator, type Simulator } from './helpers/outbound.ts';
import { connectChannel, sendWebhook } from './helpers/webhooks.ts';

const MINUTE = 60_000;

async function stateOf(harness: Harness, rule: string, parkId: string | null, channel: string | null) {
  return harness.ctx.db
    .selectFrom('alert_states')
    .selectAll()
    .where('rule', '=', rule)
    .where('park_id', '=', parkId ?? '')
    .where('channel', '=', channel ?? '')
    .executeTakeFirst();
}

function transitionOf(transitions: AlertTransition[], rule: string, parkId: string | null, channel: string | null) {
  return transitions.find((transition) => transition.rule === rule && transition.parkId === parkId && transition.channel === channel);
}

function availabilityBody(parkId: string, date: string, allotment: number) {
  return { parkId, updates: [{ unitTypeId: 'cabin', from: date, to: date, allotment }] };
}

async function setAllotment(harness: Harness, parkId: string, from: string, to: string, allotment: number): Promise<void> {
  const response = await harness.call('POST', `/parks/${parkId}/availability`, { updates: [{ unitTypeId: 'cabin', from, to, allotment }] });
  if (response.statusCode !== 200) throw new Error(`setAllotment: ${response.statusCode} ${response.body}`);
}

/** Runs dispatcher passes until nothing is open or dirty, or the pass limit is reached; returns whether the queue is empty. */
async function drain(harness: Harness, dispatcher: Dispatcher, passes = 20): Promise<boolean> {
  for (let pass = 0; pass < passes; pass += 1) {
    const claimed = await dispatcher.runOnce();
    const open = await harness.ctx.db
      .selectFrom('outbound_deliveries')
      .select((eb) => eb.fn.countAll<number>().as('count'))
      .where('state', 'in', ['pending', 'in_flight'])
      .executeTakeFirstOrThrow();
    const dirty = await harness.ctx.db.selectFrom('outbound_dirty').select((eb) => eb.fn.countAll<number>().as('count')).executeTakeFirstOrThrow();
    if (claimed === 0 && Number(open.count) === 0 && Number(dirty.count) === 0) return true;
  }
  return false;
}

/** Moves the clock past the retry backoff, a minute at a time, until the queue is empty. */
async function drainWithTime(harness: Harness, dispatcher: Dispatcher): Promise<void> {
  for (let round = 0; round < 30; round += 1) {
    harness.clock.advance(MINUTE);
    if (await drain(harness, dispatcher, 5)) return;
  }
  throw new Error('the outbound queue did not drain in 30 minutes');
}

/** Collects the JSON log lines written through a pino logger. */
function captureLogs(): { logger: pino.Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim() !== '') lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { logger: pino({ level: 'info' }, stream), lines };
}

describe('rule judgements', () => {
  const thresholds = DEFAULT_ALERT_THRESHOLDS;

  it('webhook success at exactly 98 % is resolved', () => {
    expect(judgeWebhookSuccess('hipcamp', { requests: 100, successes: 98 }, thresholds).state).toBe('resolved');
    expect(judgeWebhookSuccess('hipcamp', { requests: 100, successes: 97 }, thresholds).state).toBe('firing');
  });

  it('version conflicts at exactly 1 % are resolved', () => {
    expect(judgeVersionConflicts('hipcamp', { requests: 100, rejections: 1 }, thresholds).state).toBe('resolved');
    expect(judgeVersionConflicts('hipcamp', { requests: 100, rejections: 2 }, thresholds).state).toBe('firing');
  });

  it('silent channels resolve with no value', () => {
    const success = judgeWebhookSuccess('hipcamp', { requests: 0, successes: 0 }, thresholds);
    expect(success.state).toBe('resolved');
    expect(success.value).toBeNull();
    const conflicts = judgeVersionConflicts('hipcamp', { requests: 0, rejections: 0 }, thresholds);
    expect(conflicts.state).toBe('resolved');
    expect(conflicts.value).toBeNull();
  });

  it('overbook blocks fire above five', () => {
    expect(judgeOverbookBlocks('dune-camp', 5, thresholds).state).toBe('resolved');
    expect(judgeOverbookBlocks('dune-camp', 6, thresholds).state).toBe('firing');
  });

  it('retry queue fires on age or length', () => {
    const now = new Date('2026-12-04T12:00:00Z');
    const young = new Date(now.getTime() - 4 * MINUTE);
    const old = new Date(now.getTime() - 6 * MINUTE);
    expect(judgeRetryQueue('dune-camp', 'hipcamp', { waiting: 3, oldestAt: young }, now, thresholds).state).toBe('resolved');
    expect(judgeRetryQueue('dune-camp', 'hipcamp', { waiting: 3, oldestAt: old }, now, thresholds).detail.reasons).toEqual(['age']);
    expect(judgeRetryQueue('dune-camp', 'hipcamp', { waiting: 10_001, oldestAt: young }, now, thresholds).detail.reasons).toEqual(['length']);
    const empty = judgeRetryQueue('dune-camp', 'hipcamp', { waiting: 0, oldestAt: null }, now, thresholds);
    expect(empty.state).toBe('resolved');
    expect(empty.value).toBeNull();
  });

  it('publish failures report no data without rows', () => {
    expect(judgePublishFailures(null, null, thresholds).state).toBe('no_data');
    expect(judgePublishFailures('dune-camp', 0, thresholds).state).toBe('resolved');
    expect(judgePublishFailures('dune-camp', 1, thresholds).state).toBe('firing');
  });
});

describe('alert configuration', () => {
  it('reads thresholds from the environment', () => {
    const config = loadConfig({
      PARKSYNC_ALERT_WEBHOOK_SUCCESS_MIN_PERCENT: '99.5',
      PARKSYNC_ALERT_SYNC_STALE_MINUTES: '30',
      PARKSYNC_ALERT_RETRY_QUEUE_MAX_LENGTH: '500',
    });
    expect(config.alertThresholds).toEqual({
      ...DEFAULT_ALERT_THRESHOLDS,
      webhookSuccessMinPercent: 99.5,
      availabilitySyncStaleMinutes: 30,
      retryQueueMaxLength: 500,
    });
    expect(config.alertWebhookUrl).toBeUndefined();
  });

  it('uses the runbook defaults', () => {
    expect(loadConfig({}).alertThresholds).toEqual(DEFAULT_ALERT_THRESHOLDS);
  });

  it('rejects invalid thresholds', () => {
    expect(() => loadConfig({ PARKSYNC_ALERT_WEBHOOK_SUCCESS_MIN_PERCENT: '101' })).toThrow(/PARKSYNC_ALERT_WEBHOOK_SUCCESS_MIN_PERCENT/);
    expect(() => loadConfig({ PARKSYNC_ALERT_OVERBOOK_WINDOW_MINUTES: '0' })).toThrow(/PARKSYNC_ALERT_OVERBOOK_WINDOW_MINUTES/);
    expect(() => loadConfig({ PARKSYNC_ALERT_OVERBOOK_MAX_BLOCKS: 'five' })).toThrow(/PARKSYNC_ALERT_OVERBOOK_MAX_BLOCKS/);
  });

  it('requires a whsec_ secret with the receiver URL', () => {
    const url = 'http://127.0.0.1:9/alerts';
    expect(() => loadConfig({ PARKSYNC_ALERT_WEBHOOK_URL: url })).toThrow(/PARKSYNC_ALERT_WEBHOOK_SECRET is required/);
    expect(() => loadConfig({ PARKSYNC_ALERT_WEBHOOK_URL: url, PARKSYNC_ALERT_WEBHOOK_SECRET: 'not-a-secret-value' })).toThrow(
      /^PARKSYNC_ALERT_WEBHOOK_SECRET is invalid: signing secret must start with "whsec_"$/,
    );
    expect(() => loadConfig({ PARKSYNC_ALERT_WEBHOOK_URL: 'ftp://127.0.0.1/alerts', PARKSYNC_ALERT_WEBHOOK_SECRET: generateSigningSecret() })).toThrow(
      /http or https/,
    );
    const secret = generateSigningSecret();
    const config = loadConfig({ PARKSYNC_ALERT_WEBHOOK_URL: url, PARKSYNC_ALERT_WEBHOOK_SECRET: secret });
    expect(config.alertWebhookUrl).toBe(url);
    expect(config.alertWebhookSecret).toBe(secret);
  });
});

describe('webhook_success_rate', () => {
  const park = 'dune-camp';
  let harness: Harness;
  let secret: string;

  beforeAll(async () => {
    harness = await startHarness();
    await seedPark(harness, park, { cabin: 5 });
    secret = await connectChannel(harness, park, 'hipcamp');
  });

  afterAll(async () => {
    await harness.close();
  });

  it('resolves with no value while the channel is silent', async () => {
    await evaluateAlerts(harness.ctx);
    const row = await stateOf(harness, 'webhook_success_rate', null, 'hipcamp');
    expect(row?.state).toBe('resolved');
    expect(row?.value).toBeNull();
    expect(row?.threshold).toBe(98);
  });

  it('fires on webhooks with bad signatures', async () => {
    const wrongSecret = generateSigningSecret();
    for (let index = 0; index < 3; index += 1) {
      const response = await sendWebhook(harness, { kind: 'availability', body: availabilityBody(park, '2027-01-10', 3), secret: wrongSecret });
      expect(response.statusCode).toBe(401);
    }
    const good = await sendWebhook(harness, { kind: 'availability', body: availabilityBody(park, '2027-01-10', 3), secret, version: 1 });
    expect(good.statusCode).toBe(202);

    const pass = await evaluateAlerts(harness.ctx);
    const row = await stateOf(harness, 'webhook_success_rate', null, 'hipcamp');
    expect(row?.state).toBe('firing');
    expect(row?.value).toBe(25);
    expect(row?.detail).toMatchObject({ requests: 4, successes: 1, windowMinutes: 15 });
    expect(row?.since.toISOString()).toBe(harness.clock.now().toISOString());
    expect(transitionOf(pass.transitions, 'webhook_success_rate', null, 'hipcamp')).toMatchObject({ from: 'resolved', to: 'firing', value: 25 });
  });

  it('keeps firing, and its start time, while failures are in the window', async () => {
    const firedAt = (await stateOf(harness, 'webhook_success_rate', null, 'hipcamp'))?.since;
    harness.clock.advance(10 * MINUTE);
    const good = await sendWebhook(harness, { kind: 'availability', body: availabilityBody(park, '2027-01-10', 4), secret, version: 2 });
    expect(good.statusCode).toBe(202);
    const pass = await evaluateAlerts(harness.ctx);
    const row = await stateOf(harness, 'webhook_success_rate', null, 'hipcamp');
    expect(row?.state).toBe('firing');
    expect(row?.value).toBe(40);
    expect(row?.since).toEqual(firedAt);
    expect(transitionOf(pass.transitions, 'webhook_success_rate', null, 'hipcamp')).toBeUndefined();
  });

  it('resolves once good traffic replaces the failures', async () => {
    harness.clock.advance(6 * MINUTE);
    for (let version = 3; version <= 5; version += 1) {
      const response = await sendWebhook(harness, { kind: 'availability', body: availabilityBody(park, '2027-01-10', version), secret, version });
      expect(response.statusCode).toBe(202);
    }
    const pass = await evaluateAlerts(harness.ctx);
    const row = await stateOf(harness, 'webhook_success_rate', null, 'hipcamp');
    expect(row?.state).toBe('resolved');
    expect(row?.value).toBe(100);
    expect(transitionOf(pass.transitions, 'webhook_success_rate', null, 'hipcamp')).toMatchObject({ from: 'firing', to: 'resolved' });
  });

  it('leaves publish_validation_failures without data', async () => {
    const row = await stateOf(harness, 'publish_validation_failures', null, null);
    expect(row?.state).toBe('no_data');
    expect(row?.value).toBeNull();
  });
});

describe('availability_sync_stale', () => {
  const park = 'pine-park';
  let harness: Harness;
  let simulator: Simulator;
  let dispatcher: Dispatcher;

  beforeAll(async () => {
    harness = await startHarness();
    simulator = await startSimulator({ port: 0 });
    await seedPark(harness, park, { cabin: 5 });
    await connectSimulated(harness, simulator, park, 'pitchup');
    dispatcher = startDispatcher(harness.ctx, { idleMs: Infinity });
  });

  afterAll(async () => {
    await dispatcher.stop();
    await simulator.close();
    await harness.close();
  });

  it('reports no_data before any delivery', async () => {
    const pass = await evaluateAlerts(harness.ctx);
    const row = await stateOf(harness, 'availability_sync_stale', park, 'pitchup');
    expect(row?.state).toBe('no_data');
    expect(row?.value).toBeNull();
    expect(transitionOf(pass.transitions, 'availability_sync_stale', park, 'pitchup')).toMatchObject({ from: null, to: 'no_data' });
  });

  it('resolves after the first delivery', async () => {
    await setAllotment(harness, park, '2027-01-10', '2027-01-12', 3);
    await drain(harness, dispatcher);
    await evaluateAlerts(harness.ctx);
    const row = await stateOf(harness, 'availability_sync_stale', park, 'pitchup');
    expect(row?.state).toBe('resolved');
    expect(row?.value).toBe(0);
    expect(row?.threshold).toBe(900);
    expect(row?.detail).toMatchObject({ lastDeliveredAt: harness.clock.now().toISOString() });
  });

  it('fires after 15 minutes without a successful delivery', async () => {
    await setMode(simulator, 'pitchup', { mode: 'fail', status: 503 });
    harness.clock.advance(5 * MINUTE);
    await setAllotment(harness, park, '2027-01-10', '2027-01-10', 2);
    await drain(harness, dispatcher, 2);
    const failed = await harness.ctx.db.selectFrom('channel_sync_events').select('status').where('channel', '=', 'pitchup').where('status', '=', 'failed').execute();
    expect(failed.length).toBeGreaterThan(0);

    harness.clock.advance(9 * MINUTE);
    await drain(harness, dispatcher, 2);
    await evaluateAlerts(harness.ctx);
    expect((await stateOf(harness, 'availability_sync_stale', park, 'pitchup'))?.state).toBe('resolved');

    harness.clock.advance(2 * MINUTE);
    const pass = await evaluateAlerts(harness.ctx);
    const row = await stateOf(harness, 'availability_sync_stale', park, 'pitchup');
    expect(row?.state).toBe('firing');
    expect(row?.value).toBe(16 * 60);
    expect(transitionOf(pass.transitions, 'availability_sync_stale', park, 'pitchup')).toMatchObject({ from: 'resolved', to: 'firing' });
  });

  it('resolves after the next delivery', async () => {
    await setMode(simulator, 'pitchup', { mode: 'ok' });
    await drainWithTime(harness, dispatcher);
    const pass = await evaluateAlerts(harness.ctx);
    expect((await stateOf(harness, 'availability_sync_stale', park, 'pitchup'))?.state).toBe('resolved');
    expect(transitionOf(pass.transitions, 'availability_sync_stale', park, 'pitchup')).toMatchObject({ from: 'firing', to: 'resolved' });
  });

  it('stops watching a paused connection', async () => {
    harness.clock.advance(16 * MINUTE);
    await evaluateAlerts(harness.ctx);
    expect((await stateOf(harness, 'availability_sync_stale', park, 'pitchup'))?.state).toBe('firing');

    const paused = await harness.call('POST', '/channels/pitchup/pause', { parkId: park, reason: 'channel maintenance window' });
    expect(paused.statusCode).toBe(200);
    const pass = await evaluateAlerts(harness.ctx);
    expect(await stateOf(harness, 'availability_sync_stale', park, 'pitchup')).toBeUndefined();
    expect(transitionOf(pass.transitions, 'availability_sync_stale', park, 'pitchup')).toMatchObject({ from: 'firing', to: 'resolved', value: null });
  });
});

describe('version_conflict_rate', () => {
  const park = 'oak-park';
  let harness: Harness;
  const secrets: Record<string, string> = {};

  beforeAll(async () => {
    harness = await startHarness();
    await seedPark(harness, park, { cabin: 5 });
    secrets.airbnb = await connectChannel(harness, park, 'airbnb');
    secrets.booking = await connectChannel(harness, park, 'booking');
  });

  afterAll(async () => {
    await harness.close();
  });

  it('fires on a stale version', async () => {
    const body = availabilityBody(park, '2027-02-01', 3);
    expect((await sendWebhook(harness, { channel: 'airbnb', kind: 'availability', body, secret: secrets.airbnb ?? '', version: 5 })).statusCode).toBe(202);
    const stale = await sendWebhook(harness, { channel: 'airbnb', kind: 'availability', body, secret: secrets.airbnb ?? '', version: 3 });
    expect(stale.statusCode).toBe(409);
    expect(stale.json().code).toBe('stale_version');
    const repeated = await sendWebhook(harness, { channel: 'airbnb', kind: 'availability', body, secret: secrets.airbnb ?? '', version: 5 });
    expect(repeated.json().code).toBe('version_conflict');

    const pass = await evaluateAlerts(harness.ctx);
    const row = await stateOf(harness, 'version_conflict_rate', null, 'airbnb');
    expect(row?.state).toBe('firing');
    expect(row?.value).toBeCloseTo(66.667, 2);
    expect(row?.threshold).toBe(1);
    expect(row?.detail).toMatchObject({ requests: 3, rejections: 2, windowMinutes: 30 });
    expect(transitionOf(pass.transitions, 'version_conflict_rate', null, 'airbnb')).toMatchObject({ from: null, to: 'firing' });
  });

  it('ignores an allotment lowered below booked', async () => {
    await setAllotment(harness, park, '2027-02-10', '2027-02-10', 3);
    const booked = await harness.call('POST', `/parks/${park}/reservations`, {
      status: 'confirmed',
      unitTypeId: 'cabin',
      arrival: '2027-02-10',
      departure: '2027-02-11',
      units: 2,
    });
    expect(booked.statusCode).toBe(201);
    const lowered = await sendWebhook(harness, { channel: 'booking', kind: 'availability', body: availabilityBody(park, '2027-02-10', 1), secret: secrets.booking ?? '', version: 1 });
    expect(lowered.statusCode).toBe(202);
    const event = await harness.ctx.db.selectFrom('channel_sync_events').select('status').where('channel', '=', 'booking').executeTakeFirstOrThrow();
    expect(event.status).toBe('conflict');

    await evaluateAlerts(harness.ctx);
    const row = await stateOf(harness, 'version_conflict_rate', null, 'booking');
    expect(row?.state).toBe('resolved');
    expect(row?.value).toBe(0);
  });

  it('resolves when the window holds only accepted versions', async () => {
    harness.clock.advance(31 * MINUTE);
    const body = availabilityBody(park, '2027-02-01', 4);
    expect((await sendWebhook(harness, { channel: 'airbnb', kind: 'availability', body, secret: secrets.airbnb ?? '', version: 20 })).statusCode).toBe(202);
    const pass = await evaluateAlerts(harness.ctx);
    const row = await stateOf(harness, 'version_conflict_rate', null, 'airbnb');
    expect(row?.state).toBe('resolved');
    expect(row?.value).toBe(0);
    expect(transitionOf(pass.transitions, 'version_conflict_rate', null, 'airbnb')).toMatchObject({ from: 'firing', to: 'resolved' });
  });
});

describe('overbook_blocks', () => {
  const park = 'elm-park';
  let harness: Harness;
  let secret: string;

  async function reserve(reservationId: string) {
    return sendWebhook(harness, {
      kind: 'reservations',
      body: { parkId: park, reservationId, status: 'confirmed', unitTypeId: 'cabin', arrival: '2027-03-01', departure: '2027-03-02' },
      secret,
      version: 1,
    });
  }

  async function blocksCounted(): Promise<number> {
    const samples = (await overbookBlocks.get()).values;
    return samples.find((sample) => sample.labels.park_id === park)?.value ?? 0;
  }

  beforeAll(async () => {
    harness = await startHarness();
    await seedPark(harness, park, { cabin: 1 });
    secret = await connectChannel(harness, park, 'hipcamp');
    await setAllotment(harness, park, '2027-03-01', '2027-03-01', 1);
  });

  afterAll(async () => {
    await harness.close();
  });

  it('fires on the sixth block in ten minutes', async () => {
    const countedBefore = await blocksCounted();
    expect((await reserve('r-0')).statusCode).toBe(202);
    for (let index = 1; index <= 5; index += 1) {
      const blocked = await reserve(`r-${index}`);
      expect(blocked.statusCode).toBe(409);
      expect(blocked.json().code).toBe('overbooked');
      harness.clock.advance(110_000);
    }
    await evaluateAlerts(harness.ctx);
    const five = await stateOf(harness, 'overbook_blocks', park, null);
    expect(five?.state).toBe('resolved');
    expect(five?.value).toBe(5);

    expect((await reserve('r-6')).statusCode).toBe(409);
    const pass = await evaluateAlerts(harness.ctx);
    const six = await stateOf(harness, 'overbook_blocks', park, null);
    expect(six?.state).toBe('firing');
    expect(six?.value).toBe(6);
    expect(six?.threshold).toBe(5);
    expect(transitionOf(pass.transitions, 'overbook_blocks', park, null)).toMatchObject({ from: 'resolved', to: 'firing', value: 6 });
    expect((await blocksCounted()) - countedBefore).toBe(6);
  });

  it('resolves when the blocks leave the window', async () => {
    harness.clock.advance(5 * MINUTE);
    await evaluateAlerts(harness.ctx);
    const partly = await stateOf(harness, 'overbook_blocks', park, null);
    expect(partly?.state).toBe('resolved');
    expect(partly?.value).toBe(3);

    harness.clock.advance(6 * MINUTE);
    await evaluateAlerts(harness.ctx);
    expect((await stateOf(harness, 'overbook_blocks', park, null))?.value).toBe(0);
  });
});

describe('retry_queue_backlog', () => {
  const park = 'ash-park';
  let harness: Harness;
  let simulator: Simulator;
  let dispatcher: Dispatcher;

  beforeAll(async () => {
    harness = await startHarness();
    simulator = await startSimulator({ port: 0 });
    await seedPark(harness, park, { cabin: 5 });
    await connectSimulated(harness, simulator, park, 'pitchup');
    dispatcher = startDispatcher(harness.ctx, { idleMs: Infinity });
  });

  afterAll(async () => {
    await dispatcher.stop();
    await simulator.close();
    await harness.close();
  });

  it('resolves with no value while nothing waits', async () => {
    await evaluateAlerts(harness.ctx);
    const row = await stateOf(harness, 'retry_queue_backlog', park, 'pitchup');
    expect(row?.state).toBe('resolved');
    expect(row?.value).toBeNull();
    expect(row?.detail).toMatchObject({ waiting: 0, maxWaiting: 10_000 });
  });

  it('fires when a failing channel keeps a change waiting five minutes', async () => {
    await setMode(simulator, 'pitchup', { mode: 'fail', status: 503 });
    await setAllotment(harness, park, '2027-04-01', '2027-04-02', 2);
    await drain(harness, dispatcher, 2);
    await evaluateAlerts(harness.ctx);
    const fresh = await stateOf(harness, 'retry_queue_backlog', park, 'pitchup');
    expect(fresh?.state).toBe('resolved');
    expect(fresh?.detail).toMatchObject({ waiting: 1 });

    harness.clock.advance(4 * MINUTE);
    await drain(harness, dispatcher, 2);
    await evaluateAlerts(harness.ctx);
    expect((await stateOf(harness, 'retry_queue_backlog', park, 'pitchup'))?.state).toBe('resolved');

    harness.clock.advance(2 * MINUTE);
    const pass = await evaluateAlerts(harness.ctx);
    const row = await stateOf(harness, 'retry_queue_backlog', park, 'pitchup');
    expect(row?.state).toBe('firing');
    expect(row?.value).toBe(6 * 60);
    expect(row?.threshold).toBe(300);
    expect(row?.detail).toMatchObject({ reasons: ['age'] });
    expect(transitionOf(pass.transitions, 'retry_queue_backlog', park, 'pitchup')).toMatchObject({ from: 'resolved', to: 'firing' });
  });

  it('resolves after the queue drains', async () => {
    await setMode(simulator, 'pitchup', { mode: 'ok' });
    await drainWithTime(harness, dispatcher);
    const pass = await evaluateAlerts(harness.ctx);
    const row = await stateOf(harness, 'retry_queue_backlog', park, 'pitchup');
    expect(row?.state).toBe('resolved');
    expect(row?.value).toBeNull();
    expect(row?.detail).toMatchObject({ waiting: 0 });
    expect(transitionOf(pass.transitions, 'retry_queue_backlog', park, 'pitchup')).toMatchObject({ from: 'firing', to: 'resolved' });
  });

  it('fires on length while a paused connection collects changes', async () => {
    harness.ctx.config.alertThresholds.retryQueueMaxLength = 10;
    const paused = await harness.call('POST', '/channels/pitchup/pause', { parkId: park, reason: 'channel maintenance window' });
    expect(paused.statusCode).toBe(200);
    await setAllotment(harness, park, '2027-05-01', '2027-05-15', 4);
    await drain(harness, dispatcher, 2);
    await evaluateAlerts(harness.ctx);
    const row = await stateOf(harness, 'retry_queue_backlog', park, 'pitchup');
    expect(row?.state).toBe('firing');
    expect(row?.detail).toMatchObject({ waiting: 15, maxWaiting: 10 });
    expect((row?.detail as { reasons: string[] }).reasons).toContain('length');

    const resumed = await harness.call('POST', '/channels/pitchup/resume', { parkId: park, force: true });
    expect(resumed.statusCode).toBe(200);
    await drain(harness, dispatcher);
    await evaluateAlerts(harness.ctx);
    expect((await stateOf(harness, 'retry_queue_backlog', park, 'pitchup'))?.state).toBe('resolved');
  });
});

describe('publish_validation_failures', () => {
  const park = 'fir-park';
  let harness: Harness;

  beforeAll(async () => {
    harness = await startHarness();
    await seedPark(harness, park, { cabin: 5 });
  });

  afterAll(async () => {
    await harness.close();
  });

  it('reports no_data while no publish row exists', async () => {
    const pass = await evaluateAlerts(harness.ctx);
    expect((await stateOf(harness, 'publish_validation_failures', null, null))?.state).toBe('no_data');
    expect(transitionOf(pass.transitions, 'publish_validation_failures', null, null)).toMatchObject({ from: null, to: 'no_data' });
  });

  it('fires per park on a rejected publish row', async () => {
    const countedBefore = (await publishValidationFailures.get()).values.find((sample) => sample.labels.park_id === park)?.value ?? 0;
    await recordSyncEvent(harness.ctx.db, {
      occurredAt: harness.clock.now(),
      parkId: park,
      channel: 'public-site',
      direction: 'outbound',
      kind: 'publish',
      status: 'rejected',
      httpStatus: 422,
      error: 'validation_failed: the page has no unit types',
    });
    await evaluateAlerts(harness.ctx);
    const row = await stateOf(harness, 'publish_validation_failures', park, null);
    expect(row?.state).toBe('firing');
    expect(row?.value).toBe(1);
    expect(await stateOf(harness, 'publish_validation_failures', null, null)).toBeUndefined();
    const countedAfter = (await publishValidationFailures.get()).values.find((sample) => sample.labels.park_id === park)?.value ?? 0;
    expect(countedAfter - countedBefore).toBe(1);

    harness.clock.advance(16 * MINUTE);
    await evaluateAlerts(harness.ctx);
    expect((await stateOf(harness, 'publish_validation_failures', park, null))?.state).toBe('resolved');
  });
});

describe('GET /alerts', () => {
  let harness: Harness;

  beforeAll(async () => {
    harness = await startHarness();
    await seedPark(harness, 'dune-camp', { cabin: 5 });
    await seedPark(harness, 'fir-park', { cabin: 5 });
    await connectChannel(harness, 'dune-camp', 'hipcamp');
    await connectChannel(harness, 'fir-park', 'hipcamp');
    const bad = await sendWebhook(harness, { kind: 'availability', body: availabilityBody('dune-camp', '2027-01-10', 3), secret: generateSigningSecret() });
    expect(bad.statusCode).toBe(401);
    await evaluateAlerts(harness.ctx);
  });

  afterAll(async () => {
    await harness.close();
  });

  it('lists every state with firing first', async () => {
    const response = await harness.call('GET', '/alerts');
    expect(response.statusCode).toBe(200);
    const items = response.json().items as Array<Record<string, unknown>>;
    expect(response.json().hasMore).toBe(false);
    expect(items[0]).toEqual({
      rule: 'webhook_success_rate',
      parkId: null,
      channel: 'hipcamp',
      state: 'firing',
      since: harness.clock.now().toISOString(),
      value: 0,
      threshold: 98,
      unit: 'percent',
      detail: { requests: 1, successes: 0, windowMinutes: 15 },
      evaluatedAt: harness.clock.now().toISOString(),
    });
    const rules = new Set(items.map((item) => item.rule));
    expect(rules).toEqual(new Set(['webhook_success_rate', 'version_conflict_rate', 'overbook_blocks', 'retry_queue_backlog', 'publish_validation_failures']));
  });

  it('filters by state', async () => {
    const items = (await harness.call('GET', '/alerts?state=no_data')).json().items as Array<Record<string, unknown>>;
    expect(items.map((item) => item.rule)).toEqual(['publish_validation_failures']);
  });

  it('filters by rule', async () => {
    const items = (await harness.call('GET', '/alerts?rule=overbook_blocks')).json().items as Array<Record<string, unknown>>;
    expect(items.map((item) => item.parkId)).toEqual(['dune-camp', 'fir-park']);
  });

  it('filters by park and channel', async () => {
    const items = (await harness.call('GET', '/alerts?parkId=dune-camp&channel=hipcamp')).json().items as Array<Record<string, unknown>>;
    expect(items.map((item) => [item.rule, item.parkId, item.channel])).toEqual([['retry_queue_backlog', 'dune-camp', 'hipcamp']]);
    const byChannel = (await harness.call('GET', '/alerts?channel=hipcamp&state=firing')).json().items as Array<Record<string, unknown>>;
    expect(byChannel.map((item) => item.rule)).toEqual(['webhook_success_rate']);
  });

  it('stops at the limit', async () => {
    const response = await harness.call('GET', '/alerts?limit=2');
    expect(response.json().items).toHaveLength(2);
    expect(response.json().hasMore).toBe(true);
  });

  it('rejects an unknown state', async () => {
    const response = await harness.call('GET', '/alerts?state=burning');
    expect(response.statusCode).toBe(422);
    expect(response.json().code).toBe('validation_failed');
  });

  it('requires a bearer token', async () => {
    expect((await harness.call('GET', '/alerts', undefined, null)).statusCode).toBe(401);
  });

  it('shows a park token only its parks', async () => {
    const created = await harness.call('POST', '/tokens', { scopes: ['read'], parkIds: ['fir-park'] });
    expect(created.statusCode).toBe(201);
    const items = (await harness.call('GET', '/alerts', undefined, created.json().token as string)).json().items as Array<Record<string, unknown>>;
    expect(items.length).toBeGreaterThan(0);
    expect(new Set(items.map((item) => item.parkId))).toEqual(new Set(['fir-park']));
  });
});

describe('transition notifications', () => {
  const park = 'dune-camp';
  const receiverSecret = generateSigningSecret();
  let harness: Harness;
  let channelSecret: string;
  let receiver: Server;
  let receiverUrl: string;
  const received: Array<{ headers: IncomingMessage['headers']; body: string }> = [];
  const logs = captureLogs();

  beforeAll(async () => {
    receiver = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        received.push({ headers: request.headers, body: Buffer.concat(chunks).toString('utf8') });
        response.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/alerts`;
    harness = await startHarness();
    harness.ctx.logger = logs.logger;
    harness.ctx.config.alertWebhookUrl = receiverUrl;
    harness.ctx.config.alertWebhookSecret = receiverSecret;
    await seedPark(harness, park, { cabin: 5 });
    channelSecret = await connectChannel(harness, park, 'hipcamp');
  });

  afterAll(async () => {
    await harness.close();
    await new Promise<void>((resolve) => receiver.close(() => resolve()));
  });

  it('posts a signed transition to the receiver', async () => {
    await evaluateAlerts(harness.ctx);
    received.length = 0;
    const bad = await sendWebhook(harness, { kind: 'availability', body: availabilityBody(park, '2027-01-10', 3), secret: generateSigningSecret() });
    expect(bad.statusCode).toBe(401);
    await evaluateAlerts(harness.ctx);

    expect(received).toHaveLength(1);
    const [post] = received;
    const timestamp = Number(post?.headers['x-timestamp']);
    expect(timestamp).toBe(Math.floor(harness.clock.now().getTime() / 1000));
    expect(post?.headers['x-signature']).toBe(signBody(receiverSecret, post?.body ?? '', timestamp)['x-signature']);
    expect(post?.headers['idempotency-key']).toMatch(/^[0-9a-f-]{36}$/);
    const body = JSON.parse(post?.body ?? '{}');
    expect(body.type).toBe('parksync.alert.transitions');
    expect(body.transitions).toEqual([
      {
        rule: 'webhook_success_rate',
        parkId: null,
        channel: 'hipcamp',
        from: 'resolved',
        to: 'firing',
        value: 0,
        threshold: 98,
        since: harness.clock.now().toISOString(),
      },
    ]);
  });

  it('logs each transition on one line', () => {
    const line = logs.lines.find((entry) => entry.msg === 'alert firing' && entry.rule === 'webhook_success_rate');
    expect(line).toMatchObject({ level: 40, rule: 'webhook_success_rate', parkId: null, channel: 'hipcamp', from: 'resolved', to: 'firing', value: 0 });
  });

  it('sends nothing when no state changed', async () => {
    received.length = 0;
    await evaluateAlerts(harness.ctx);
    expect(received).toHaveLength(0);
  });

  it('stores the state when the receiver is unreachable', async () => {
    received.length = 0;
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const closedPort = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    harness.ctx.config.alertWebhookUrl = `http://127.0.0.1:${closedPort}/alerts`;

    harness.clock.advance(16 * MINUTE);
    const good = await sendWebhook(harness, { kind: 'availability', body: availabilityBody(park, '2027-01-10', 3), secret: channelSecret, version: 1 });
    expect(good.statusCode).toBe(202);
    const pass = await evaluateAlerts(harness.ctx);
    expect(transitionOf(pass.transitions, 'webhook_success_rate', null, 'hipcamp')).toMatchObject({ from: 'firing', to: 'resolved' });
    expect((await stateOf(harness, 'webhook_success_rate', null, 'hipcamp'))?.state).toBe('resolved');
    expect(logs.lines.some((entry) => entry.msg === 'alert notification failed; it is not retried' && entry.transitions === 1)).toBe(true);
    harness.ctx.config.alertWebhookUrl = receiverUrl;
  });

  it('logs a receiver that answers with an error', async () => {
    const failing = createServer((_request, response) => response.writeHead(500).end());
    await new Promise<void>((resolve) => failing.listen(0, '127.0.0.1', resolve));
    harness.ctx.config.alertWebhookUrl = `http://127.0.0.1:${(failing.address() as AddressInfo).port}/alerts`;
    try {
      const bad = await sendWebhook(harness, { kind: 'availability', body: availabilityBody(park, '2027-01-10', 3), secret: generateSigningSecret() });
      expect(bad.statusCode).toBe(401);
      const pass = await evaluateAlerts(harness.ctx);
      expect(transitionOf(pass.transitions, 'webhook_success_rate', null, 'hipcamp')).toMatchObject({ from: 'resolved', to: 'firing' });
      expect(logs.lines.some((entry) => entry.httpStatus === 500 && entry.msg === 'alert receiver rejected the notification; it is not retried')).toBe(true);
    } finally {
      harness.ctx.config.alertWebhookUrl = receiverUrl;
      await new Promise<void>((resolve) => failing.close(() => resolve()));
    }
  });
});

describe('alert job', () => {
  let harness: Harness;

  beforeAll(async () => {
    harness = await startHarness();
    await seedPark(harness, 'dune-camp', { cabin: 5 });
    await connectChannel(harness, 'dune-camp', 'hipcamp');
    await sendWebhook(harness, { kind: 'availability', body: availabilityBody('dune-camp', '2027-01-10', 3), secret: generateSigningSecret() });
  });

  afterAll(async () => {
    await harness.close();
  });

  it('evaluates in one process at a time', async () => {
    await runAlertJob(harness.ctx);
    const first = await stateOf(harness, 'webhook_success_rate', null, 'hipcamp');
    expect(first?.state).toBe('firing');

    harness.clock.advance(MINUTE);
    const other = { ...harness.ctx, config: { ...harness.ctx.config, instanceId: 'another-worker' } };
    await runAlertJob(other);
    expect((await stateOf(harness, 'webhook_success_rate', null, 'hipcamp'))?.evaluated_at).toEqual(first?.evaluated_at);

    await runAlertJob(harness.ctx);
    expect((await stateOf(harness, 'webhook_success_rate', null, 'hipcamp'))?.evaluated_at).toEqual(harness.clock.now());
  });

  it('exports the states as gauges', async () => {
    await refreshAlertMetrics(harness.ctx);
    const text = await metricsRegistry.metrics();
    expect(text).toContain('parksync_alert_state{rule="webhook_success_rate",park_id="",channel="hipcamp"} 1');
    expect(text).toContain('parksync_alert_state{rule="publish_validation_failures",park_id="",channel=""} -1');
    expect(text).toContain('parksync_alert_state{rule="overbook_blocks",park_id="dune-camp",channel=""} 0');
    expect(text).toContain('parksync_connection_active{park_id="dune-camp",channel="hipcamp"} 0');
  });
});
