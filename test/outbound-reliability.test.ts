import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { generateSigningSecret } from '../src/channels/secrets.ts';
import { DEFAULT_COALESCE_MS } from '../src/sync/dispatcher.ts';
import type { ReceivedPush, ReceivedStatus } from '../src/channels/simulator/index.ts';
import { signBody } from '../src/webhooks/signature.ts';
import { testDatabaseKind } from './helpers/database.ts';
import { seedPark, startHarness, type Harness } from './helpers/harness.ts';
import { connectSimulated, setMode, simulatorView, startSimulator, type Simulator } from './helpers/outbound.ts';

/**
 * Outbound sync under load and failure, with real `parksync work` processes
 * against this file's PostgreSQL database and the channel simulator:
 * bursts coalesce, two workers never send one delivery at the same time, and
 * a worker killed mid-delivery loses nothing.
 */

const onPostgres = testDatabaseKind() === 'postgres';
const BIN = fileURLToPath(new URL('../bin/parksync.mjs', import.meta.url));

/** The smallest lease the worker accepts. It sets how long the crash test waits for the takeover. */
const LEASE_SECONDS = 15;
const WORKER_START_TIMEOUT_MS = 20_000;
const WORKER_STOP_TIMEOUT_MS = 10_000;

const COALESCE_PARK = 'pine-hollow';
const COALESCE_CHANNELS = ['hipcamp', 'pitchup'];
const EXCLUSIVE_PARKS = ['fern-valley', 'otter-bay'];
const EXCLUSIVE_CHANNELS = ['airbnb', 'booking', 'campspace'];
const CRASH_PARK = 'heron-lake';
const CRASH_CHANNEL = 'tentrr';

interface WorkerProcess {
  name: string;
  child: ChildProcess;
  logFile: string;
  /** The instance id the worker logged at start, which is the lease owner of its deliveries. */
  instanceId: string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

interface ReceivedLog {
  items: ReceivedPush[];
  counts: Record<ReceivedStatus, number>;
  inFlight: number;
  concurrentDuplicates: number;
}

let harness: Harness;
let simulator: Simulator;
let logDir: string;
let keepLogs = false;
const workers: WorkerProcess[] = [];

function isRunning(worker: WorkerProcess): boolean {
  return worker.child.exitCode === null && worker.child.signalCode === null;
}

function logTail(worker: WorkerProcess, lines = 20): string {
  try {
    return readFileSync(worker.logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/**
 * Polls `check` every `intervalMs` until it returns true. Throws when
 * `timeoutMs` passes first, with the output of `showState` in the message.
 */
async function waitFor(
  condition: string,
  timeoutMs: number,
  check: () => Promise<boolean>,
  showState?: () => Promise<string>,
  intervalMs = 50,
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    if (await check()) return;
    await sleep(intervalMs);
  }
  const state = showState ? `; ${await showState()}` : '';
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${condition}${state}`);
}

async function withDeadline<T>(condition: string, timeoutMs: number, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${condition}`)), timeoutMs);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Spawns `parksync work` on this file's database and waits until it logs that it started. */
async function startWorker(name: string): Promise<WorkerProcess> {
  const databaseUrl = harness.database.url;
  if (!databaseUrl) throw new Error('worker processes need the PostgreSQL URL of the test database');
  const logFile = path.join(logDir, `${name}.log`);
  const log = openSync(logFile, 'a');
  const child = spawn(process.execPath, [BIN, 'work'], {
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? logDir,
      TMPDIR: tmpdir(),
      DATABASE_URL: databaseUrl,
      PARKSYNC_DATA_DIR: path.join(logDir, `${name}-data`),
      PARKSYNC_DELIVERY_LEASE_SECONDS: String(LEASE_SECONDS),
      // Two sends at a time per worker: neither worker can take every open delivery, so both must send.
      PARKSYNC_DELIVERY_CONCURRENCY: '2',
      LOG_LEVEL: 'info',
    },
    stdio: ['ignore', log, log],
  });
  closeSync(log);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  const worker: WorkerProcess = { name, child, logFile, instanceId: '', exited };
  workers.push(worker);

  await waitFor(
    `worker ${name} to start`,
    WORKER_START_TIMEOUT_MS,
    async () => {
      if (!isRunning(worker)) throw new Error(`worker ${name} exited during start; its log ends with:\n${logTail(worker)}`);
      for (const line of readFileSync(logFile, 'utf8').split('\n')) {
        if (!line.includes('"worker started"')) continue;
        try {
          worker.instanceId = (JSON.parse(line) as { instanceId?: string }).instanceId ?? '';
        } catch {
          // The line is still being written; the next poll reads it whole.
        }
      }
      return worker.instanceId !== '';
    },
    async () => `its log ends with:\n${logTail(worker)}`,
  );
  return worker;
}

/** Kills a worker with SIGKILL, as a crash or the kernel's out-of-memory killer would, and waits for it to exit. */
async function killWorker(worker: WorkerProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  const pid = worker.child.pid;
  if (pid === undefined) throw new Error(`worker ${worker.name} has no process id`);
  process.kill(pid, 'SIGKILL');
  return withDeadline(`worker ${worker.name} to exit after SIGKILL`, 5_000, worker.exited);
}

/** Stops a worker with SIGTERM, the way an operator would, and waits for it to exit. */
async function stopWorker(worker: WorkerProcess): Promise<void> {
  if (!isRunning(worker)) return;
  worker.child.kill('SIGTERM');
  await withDeadline(`worker ${worker.name} to exit after SIGTERM`, WORKER_STOP_TIMEOUT_MS, worker.exited);
}

async function received(channel?: string): Promise<ReceivedLog> {
  const query = channel ? `?channel=${channel}` : '';
  const response = await fetch(`${simulator.url}/_control/received${query}`);
  if (!response.ok) throw new Error(`simulator received log failed: ${response.status}`);
  return (await response.json()) as ReceivedLog;
}

async function setAvailability(parkId: string, unitTypeId: string, date: string, allotment: number): Promise<void> {
  const response = await harness.call('POST', `/parks/${parkId}/availability`, { updates: [{ unitTypeId, from: date, to: date, allotment }] });
  if (response.statusCode !== 200) throw new Error(`availability update failed: ${response.statusCode} ${response.body}`);
}

async function parksyncAvailable(parkId: string, unitTypeId: string, date: string): Promise<number | undefined> {
  const response = await harness.call('GET', `/parks/${parkId}/availability?unitTypeId=${unitTypeId}&from=${date}&to=${date}`);
  const items = response.json().items as Array<{ available: number }>;
  return items[0]?.available;
}

async function channelAvailable(channel: string, parkId: string, unitTypeId: string, date: string): Promise<number | undefined> {
  const view = await simulatorView(simulator, channel, parkId);
  return view.availability.find((night) => night.unitTypeId === unitTypeId && night.date === date)?.available;
}

/** Counts the open deliveries and dirty nights of the given parks, which reach zero once everything went out. */
async function outboundBacklog(parkIds: string[]): Promise<number> {
  const open = await harness.ctx.db
    .selectFrom('outbound_deliveries')
    .select((eb) => eb.fn.countAll<string>().as('count'))
    .where('park_id', 'in', parkIds)
    .where('state', 'in', ['pending', 'in_flight'])
    .executeTakeFirstOrThrow();
  const dirty = await harness.ctx.db
    .selectFrom('outbound_dirty')
    .select((eb) => eb.fn.countAll<string>().as('count'))
    .where('park_id', 'in', parkIds)
    .executeTakeFirstOrThrow();
  return Number(open.count) + Number(dirty.count);
}

async function deliveriesByState(parkIds: string[]): Promise<Record<string, number>> {
  const rows = await harness.ctx.db
    .selectFrom('outbound_deliveries')
    .select(['state', (eb) => eb.fn.countAll<string>().as('count')])
    .where('park_id', 'in', parkIds)
    .groupBy('state')
    .execute();
  return Object.fromEntries(rows.map((row) => [row.state, Number(row.count)]));
}

beforeAll(async () => {
  if (!onPostgres) return;
  logDir = await mkdtemp(path.join(tmpdir(), 'parksync-reliability-'));
  harness = await startHarness();
  simulator = await startSimulator({ port: 0 });

  await seedPark(harness, COALESCE_PARK, { cabin: 40 });
  for (const channel of COALESCE_CHANNELS) await connectSimulated(harness, simulator, COALESCE_PARK, channel);
  for (const parkId of EXCLUSIVE_PARKS) {
    await seedPark(harness, parkId, { cabin: 40, pitch: 80 });
    for (const channel of EXCLUSIVE_CHANNELS) await connectSimulated(harness, simulator, parkId, channel);
  }
  await seedPark(harness, CRASH_PARK, { cabin: 40 });
  await connectSimulated(harness, simulator, CRASH_PARK, CRASH_CHANNEL);
});

beforeEach(({ onTestFailed }) => {
  onTestFailed(() => {
    keepLogs = true;
  });
});

afterAll(async () => {
  // Runs even when a test failed mid-way, so no worker outlives the file.
  for (const worker of workers) {
    if (!isRunning(worker) || worker.child.pid === undefined) continue;
    try {
      process.kill(worker.child.pid, 'SIGKILL');
    } catch {
      // It exited between the check and the signal.
    }
  }
  await Promise.all(workers.map((worker) => withDeadline(`worker ${worker.name} to exit`, 5_000, worker.exited).catch(() => undefined)));
  await simulator?.close();
  await harness?.close();
  if (logDir && keepLogs) console.info(`worker logs kept in ${logDir}`);
  else if (logDir) await rm(logDir, { recursive: true, force: true });
});

describe('coalescing', () => {
  it.runIf(onPostgres)(
    'coalesces a burst into few deliveries',
    async () => {
      const worker = await startWorker('coalesce');
      try {
        const night = '2027-01-15';
        const updates = 1000;
        const finalAllotment = 7;
        const concurrency = 20;

        // All but the last update run `concurrency` at a time. The last one runs alone, so it sets the final state.
        const started = performance.now();
        for (let sent = 0; sent < updates - 1; sent += concurrency) {
          const batch = [];
          for (let index = sent; index < Math.min(sent + concurrency, updates - 1); index += 1) {
            batch.push(setAvailability(COALESCE_PARK, 'cabin', night, 10 + (index % 30)));
          }
          await Promise.all(batch);
        }
        await setAvailability(COALESCE_PARK, 'cabin', night, finalAllotment);
        const burstMs = Math.round(performance.now() - started);

        expect(await parksyncAvailable(COALESCE_PARK, 'cabin', night)).toBe(finalAllotment);
        await waitFor(
          'the last value to reach every channel',
          15_000,
          async () => {
            for (const channel of COALESCE_CHANNELS) {
              if ((await channelAvailable(channel, COALESCE_PARK, 'cabin', night)) !== finalAllotment) return false;
            }
            return (await outboundBacklog([COALESCE_PARK])) === 0;
          },
          async () => `backlog ${await outboundBacklog([COALESCE_PARK])}, deliveries ${JSON.stringify(await deliveriesByState([COALESCE_PARK]))}`,
        );

        for (const channel of COALESCE_CHANNELS) {
          const log = await received(channel);
          const applied = log.items.filter((item) => item.status === 'applied').length;
          const stale = log.items.filter((item) => item.status === 'stale').length;
          console.info(`coalescing: ${updates} updates in ${burstMs} ms reached ${channel} in ${applied} deliveries`);
          expect(applied, `deliveries to ${channel}`).toBeGreaterThanOrEqual(1);
          // One delivery per coalescing window while the burst lasts, and a few to settle the last value.
          expect(applied, `deliveries to ${channel}`).toBeLessThanOrEqual(Math.ceil(burstMs / DEFAULT_COALESCE_MS) + 3);
          expect(stale, `stale deliveries to ${channel}`).toBe(0);
          expect(await channelAvailable(channel, COALESCE_PARK, 'cabin', night)).toBe(finalAllotment);
        }
      } finally {
        await stopWorker(worker);
      }
    },
    60_000,
  );
});

describe('exclusivity', () => {
  it.runIf(onPostgres)('simulator counts overlapping pushes with one key', async () => {
    // The exclusivity test relies on this counter, so it is checked against two pushes that do overlap.
    const channel = 'overlap-check';
    const secret = generateSigningSecret();
    const registered = await fetch(`${simulator.url}/_control/connections/${channel}/${CRASH_PARK}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ secret }),
    });
    expect(registered.status).toBe(201);
    await setMode(simulator, channel, { mode: 'slow', delayMs: 300 });
    const before = await received();
    const body = JSON.stringify({ parkId: CRASH_PARK, updates: [{ unitTypeId: 'cabin', from: '2027-04-01', to: '2027-04-01', available: 3 }] });
    const push = () =>
      fetch(`${simulator.url}/channels/${channel}/availability`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'idempotency-key': 'overlap-check-1',
          'x-version': '1',
          ...signBody(secret, body, Math.floor(Date.now() / 1000)),
        },
        body,
      });

    const first = push();
    await sleep(50);
    const statuses = await Promise.all([first, push()].map(async (response) => (await response).status));
    await setMode(simulator, channel, { mode: 'ok' });

    expect(statuses).toEqual([200, 200]);
    const after = await received(channel);
    expect(after.concurrentDuplicates - before.concurrentDuplicates).toBe(1);
    expect(after.items.map((item) => [item.status, item.concurrentDuplicate ?? false])).toEqual([
      ['applied', false],
      ['duplicate', true],
    ]);
    expect(after.inFlight).toBe(0);
  });

  it.runIf(onPostgres)(
    'sends each delivery from one worker at a time',
    async () => {
      const pair = await Promise.all([startWorker('exclusive-a'), startWorker('exclusive-b')]);
      const owners = new Map<string, number>();
      let sampling = true;
      // Samples the lease owners of in-flight deliveries, to show that both workers had work.
      const sampler = (async () => {
        while (sampling) {
          const rows = await harness.ctx.db
            .selectFrom('outbound_deliveries')
            .select('lease_owner')
            .where('park_id', 'in', EXCLUSIVE_PARKS)
            .where('state', '=', 'in_flight')
            .execute();
          for (const row of rows) if (row.lease_owner) owners.set(row.lease_owner, (owners.get(row.lease_owner) ?? 0) + 1);
          await sleep(25);
        }
      })();

      try {
        const duplicatesBefore = (await received()).concurrentDuplicates;
        for (const channel of EXCLUSIVE_CHANNELS) await setMode(simulator, channel, { mode: 'slow', delayMs: 300 });

        // Each change writes a value not used before, so the final state of a night shows that its last change arrived.
        const expected = new Map<string, { parkId: string; unitTypeId: string; date: string; allotment: number }>();
        const nights = ['2027-02-01', '2027-02-02', '2027-02-03', '2027-02-05', '2027-02-08'];
        const changes = 80;
        for (let step = 0; step < changes; step += 1) {
          const parkId = EXCLUSIVE_PARKS[step % EXCLUSIVE_PARKS.length] ?? '';
          const unitTypeId = step % 4 < 2 ? 'cabin' : 'pitch';
          const date = nights[step % nights.length] ?? '';
          const allotment = 1 + step;
          await setAvailability(parkId, unitTypeId, date, allotment);
          expected.set(`${parkId}/${unitTypeId}/${date}`, { parkId, unitTypeId, date, allotment });
          await sleep(40);
        }

        const mismatches = async () => {
          const wrong: string[] = [];
          for (const change of expected.values()) {
            for (const channel of EXCLUSIVE_CHANNELS) {
              const got = await channelAvailable(channel, change.parkId, change.unitTypeId, change.date);
              if (got !== change.allotment) wrong.push(`${channel} ${change.parkId} ${change.unitTypeId} ${change.date}: ${got} != ${change.allotment}`);
            }
          }
          return wrong;
        };
        await waitFor(
          'every change to reach every channel',
          20_000,
          async () => (await mismatches()).length === 0 && (await outboundBacklog(EXCLUSIVE_PARKS)) === 0,
          async () => `still wrong: ${(await mismatches()).slice(0, 5).join('; ')}; deliveries ${JSON.stringify(await deliveriesByState(EXCLUSIVE_PARKS))}`,
        );
        sampling = false;
        await sampler;

        for (const change of expected.values()) {
          expect(await parksyncAvailable(change.parkId, change.unitTypeId, change.date), `parksync ${change.parkId} ${change.unitTypeId} ${change.date}`).toBe(
            change.allotment,
          );
        }
        expect(await mismatches()).toEqual([]);

        const log = await received();
        const pushes = log.items.filter((item) => EXCLUSIVE_CHANNELS.includes(item.channel));
        const states = await deliveriesByState(EXCLUSIVE_PARKS);
        console.info(
          `exclusivity: ${pushes.length} pushes, deliveries ${JSON.stringify(states)}, in-flight samples per worker ${JSON.stringify(Object.fromEntries(owners))}`,
        );
        expect(log.concurrentDuplicates - duplicatesBefore, 'pushes that arrived while one with the same Idempotency-Key was being handled').toBe(0);
        expect(pushes.filter((item) => item.concurrentDuplicate)).toEqual([]);
        expect(pushes.filter((item) => item.status === 'duplicate'), 'repeated deliveries, though no attempt failed').toEqual([]);
        expect(states.dead ?? 0, 'dead-lettered deliveries').toBe(0);
        for (const worker of pair) {
          expect(owners.get(worker.instanceId) ?? 0, `in-flight samples of worker ${worker.name}`).toBeGreaterThan(0);
        }
      } finally {
        sampling = false;
        await sampler;
        for (const channel of EXCLUSIVE_CHANNELS) await setMode(simulator, channel, { mode: 'ok' });
        await Promise.all(pair.map((worker) => stopWorker(worker)));
      }
    },
    60_000,
  );
});

describe('crash', () => {
  it.runIf(onPostgres)(
    "takes over a killed worker's delivery",
    async () => {
      const first = await startWorker('crash-first');
      await setMode(simulator, CRASH_CHANNEL, { mode: 'slow', delayMs: 5000, count: 1 });
      await setAvailability(CRASH_PARK, 'cabin', '2027-03-10', 9);

      await waitFor('the simulator to report a push in progress', 10_000, async () => (await received(CRASH_CHANNEL)).inFlight >= 1);
      const inFlight = await harness.ctx.db
        .selectFrom('outbound_deliveries')
        .select(['delivery_id', 'lease_owner', 'attempts'])
        .where('park_id', '=', CRASH_PARK)
        .where('channel', '=', CRASH_CHANNEL)
        .where('state', '=', 'in_flight')
        .executeTakeFirstOrThrow();
      expect(inFlight.lease_owner).toBe(first.instanceId);
      expect(inFlight.attempts).toBe(1);

      const killedAt = performance.now();
      const exit = await killWorker(first);
      expect(exit.signal).toBe('SIGKILL');

      // A change made while no worker runs must go out after the takeover too.
      await setAvailability(CRASH_PARK, 'cabin', '2027-03-11', 4);
      const second = await startWorker('crash-takeover');
      try {
        const delivery = () =>
          harness.ctx.db
            .selectFrom('outbound_deliveries')
            .select(['state', 'attempts', 'lease_owner', 'last_error'])
            .where('delivery_id', '=', inFlight.delivery_id)
            .executeTakeFirstOrThrow();
        await waitFor(
          'the second worker to deliver the killed worker\'s delivery',
          LEASE_SECONDS * 1000 + 15_000,
          async () => (await delivery()).state === 'delivered',
          async () => `delivery ${JSON.stringify(await delivery())}`,
          200,
        );
        const takeoverSeconds = ((performance.now() - killedAt) / 1000).toFixed(1);
        console.info(`crash: delivery ${inFlight.delivery_id} delivered ${takeoverSeconds} s after the kill`);
        expect((await delivery()).attempts).toBe(2);

        await waitFor(
          'the channel to hold both nights',
          10_000,
          async () =>
            (await channelAvailable(CRASH_CHANNEL, CRASH_PARK, 'cabin', '2027-03-10')) === 9 &&
            (await channelAvailable(CRASH_CHANNEL, CRASH_PARK, 'cabin', '2027-03-11')) === 4 &&
            (await outboundBacklog([CRASH_PARK])) === 0,
          async () => `view ${JSON.stringify((await simulatorView(simulator, CRASH_CHANNEL, CRASH_PARK)).availability)}`,
        );

        const pushes = (await received(CRASH_CHANNEL)).items.filter((item) => item.idempotencyKey === inFlight.delivery_id);
        expect(pushes.map((item) => item.status)).toEqual(['applied', 'duplicate']);
        expect(pushes.filter((item) => item.status === 'applied')).toHaveLength(1);
        expect(await deliveriesByState([CRASH_PARK])).toEqual({ delivered: 2 });
      } finally {
        await stopWorker(second);
      }
    },
    60_000,
  );
});
