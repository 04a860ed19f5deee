import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { request } from 'undici';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { LoadClient } from '../../scripts/bench/lib/load.ts';
import type { ChildHandle } from '../../scripts/bench/lib/processes.ts';
import { startDeployment, type Deployment } from './helpers/deployment.ts';
import { PrivatePostgres, privatePostgresUnavailable, type StopMode } from './helpers/private-postgres.ts';
import { ChannelSender, type Attempt } from './helpers/sender.ts';
import { collectOutcome, expectDelivered, expectNoDeliveryAppliedTwice, expectStoredOnce, type Outcome } from './helpers/verify.ts';

/**
 * Stops and starts the PostgreSQL server under webhook load: a private
 * server in a temporary directory, never the machine's main cluster. While
 * the database is down, the API must respond 503 `database_unavailable` at
 * once, never 500 and never nothing. Once it is back, the API and the worker
 * must go on without a restart, and nothing acknowledged may be lost.
 *
 * When a parksync process dies in the outage, the test records it, starts a
 * new one as a supervisor would, and still checks that nothing acknowledged
 * was lost, so one run shows both the crash and its consequences.
 */

const unavailable = privatePostgresUnavailable();
const RATE_PER_SECOND = 50;
const BEFORE_STOP_MS = 3_000;
const OUTAGE_MS = 5_000;
const AFTER_START_MS = 5_000;
const REQUEST_TIMEOUT_MS = 10_000;
/** The API must take webhooks again within this long after the server accepts connections. */
const RECOVERY_LIMIT_MS = 15_000;
const SETTLE_MS = 90_000;
const DRAIN_MS = 90_000;
/** The shortest lease the worker accepts, so a delivery whose settle failed in the outage is sent again soon. */
const LEASE_SECONDS = 15;

let server: PrivatePostgres;
let deployment: Deployment;
let logDir: string;
let keepLogs = false;

beforeAll(async () => {
  if (unavailable) return;
  logDir = await mkdtemp(path.join(tmpdir(), 'parksync-database-restart-'));
  server = await PrivatePostgres.create();
  const databaseUrl = await server.createDatabase('parksync');
  deployment = await startDeployment({ databaseUrl, logDir, deliveryLeaseSeconds: LEASE_SECONDS });
});

beforeEach(({ onTestFailed }) => {
  onTestFailed(() => {
    keepLogs = true;
  });
});

afterAll(async () => {
  await deployment?.stop();
  await server?.destroy();
  if (keepLogs) console.info(`process logs kept in ${logDir}`);
  else if (logDir) await rm(logDir, { recursive: true, force: true });
});

interface Outage {
  /** Sender clock, in ms: when pg_ctl stop returned, and when pg_ctl start began and returned. */
  stopped: number;
  startBegan: number;
  started: number;
  /** Status of GET /readyz while the server was stopped, or 0 when no response came. */
  readyzDuringOutage: number;
  /** How each parksync process that died in the outage ended, with the end of its log. */
  crashes: string[];
}

async function readyzStatus(url: string): Promise<number> {
  try {
    const response = await request(`${url}/readyz`, { headersTimeout: REQUEST_TIMEOUT_MS, bodyTimeout: REQUEST_TIMEOUT_MS });
    await response.body.dump();
    return response.statusCode;
  } catch {
    return 0;
  }
}

function describeAttempts(attempts: readonly Attempt[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const attempt of attempts) {
    const key = attempt.status === 202 ? '202' : `${attempt.status} ${attempt.code ?? ''}`.trim();
    counts[key] = (counts[key] ?? 0) + 1;
  }
  return counts;
}

/** Describes how a process that died exited, with the first error line of its log. */
async function describeCrash(handle: ChildHandle): Promise<string> {
  const exit = await handle.exited;
  const errorLine = handle
    .logTail(60)
    .split('\n')
    .find((line) => /^\w*error\b|Error:|Unhandled/.test(line.trim()));
  return `${handle.name} exited (code ${exit.code}, signal ${exit.signal}): ${errorLine?.trim() ?? 'no error line in its log'}`;
}

/** Starts a new process for each one that died, as a supervisor would, and describes each crash. */
async function replaceCrashed(): Promise<string[]> {
  const crashes: string[] = [];
  if (!deployment.serve.isRunning()) {
    crashes.push(await describeCrash(deployment.serve));
    await deployment.restartServe();
  }
  if (!deployment.work.isRunning()) {
    crashes.push(await describeCrash(deployment.work));
    await deployment.restartWork();
  }
  return crashes;
}

interface Scenario {
  mode: StopMode;
  /** When false, the channel is quiet while the server stops and starts sending only once it is down, so no request uses a connection at the stop. */
  loadDuringStop: boolean;
}

const SCENARIOS: readonly Scenario[] = [
  { mode: 'fast', loadDuringStop: true },
  { mode: 'immediate', loadDuringStop: true },
  { mode: 'fast', loadDuringStop: false },
];

describe.skipIf(unavailable !== undefined)('database restart under load', () => {
  for (const { mode, loadDuringStop } of SCENARIOS) {
    describe(`pg_ctl stop -m ${mode}, ${loadDuringStop ? 'under load' : 'load starting once the server is down'}`, () => {
      let sender: ChannelSender;
      let outage: Outage;
      let outcome: Outcome;

      it('runs the outage under load', async () => {
        const client = new LoadClient(deployment.url, 512);
        sender = new ChannelSender(client, deployment.webhooks, { ratePerSecond: RATE_PER_SECOND, timeoutMs: REQUEST_TIMEOUT_MS });
        let startedAt = Number.POSITIVE_INFINITY;
        let finished = false;
        try {
          let load: Promise<void> | undefined;
          const startLoad = () => sender.run(120_000, () => finished || sender.now() > startedAt + AFTER_START_MS);
          if (loadDuringStop) {
            load = startLoad();
            await sleep(BEFORE_STOP_MS);
          }
          await server.stop(mode);
          const stopped = sender.now();
          load ??= startLoad();
          const readyzDuringOutage = await readyzStatus(deployment.url);
          await sleep(OUTAGE_MS);
          const startBegan = sender.now();
          await server.start();
          startedAt = sender.now();
          const crashes = await replaceCrashed();
          await load;
          outage = { stopped, startBegan, started: startedAt, readyzDuringOutage, crashes };
          outcome = await collectOutcome(deployment, sender, { settleMs: SETTLE_MS, drainMs: DRAIN_MS });
        } finally {
          finished = true;
          if (!server.isRunning) await server.start();
          await client.close();
        }
        const whileDown = sender.attempts().filter((attempt) => attempt.at >= outage.stopped && attempt.at + attempt.durationMs <= outage.startBegan);
        console.info(
          `database ${mode} stop${loadDuringStop ? '' : ' (quiet at the stop)'}: ${outcome.webhooks} webhooks; attempts while down ${JSON.stringify(describeAttempts(whileDown))}; ` +
            `all attempts ${JSON.stringify(sender.tally())}; pg_ctl start took ${((outage.started - outage.startBegan) / 1000).toFixed(1)} s; ` +
            `crashes ${JSON.stringify(outage.crashes)}; deliveries ${JSON.stringify(outcome.deliveries)}, repeated pushes ${outcome.repeatedPushes}`,
        );
        expect(outcome.webhooks).toBeGreaterThan(0);
      }, 300_000);

      it('keeps the serve and work processes running', () => {
        expect(outage.crashes, 'parksync processes that died while the database was down').toEqual([]);
      });

      it('answers 503 database_unavailable while the database is down', () => {
        const whileDown = sender.attempts().filter((attempt) => attempt.at >= outage.stopped && attempt.at + attempt.durationMs <= outage.startBegan);
        expect(whileDown.length, 'attempts made while the server was stopped').toBeGreaterThan(0);
        expect(describeAttempts(whileDown)).toEqual({ '503 database_unavailable': whileDown.length });
        expect(outage.readyzDuringOutage, 'GET /readyz while the server was stopped').toBe(503);
      });

      it('never answers 500 or leaves a request without an answer', () => {
        const faults = sender.attempts().filter((attempt) => attempt.status === 0 || (attempt.status >= 500 && attempt.code !== 'database_unavailable'));
        expect(describeAttempts(faults)).toEqual({});
        const slowest = Math.max(...sender.attempts().map((attempt) => attempt.durationMs));
        expect(slowest, 'slowest answer, ms').toBeLessThan(REQUEST_TIMEOUT_MS);
      });

      it('takes webhooks again once the database is back', () => {
        const accepted = sender.attempts().filter((attempt) => attempt.status === 202 && attempt.at >= outage.started);
        expect(accepted.length, '202s after the server started').toBeGreaterThan(0);
        const recoveryMs = Math.min(...accepted.map((attempt) => attempt.at)) - outage.started;
        console.info(`database ${mode} stop${loadDuringStop ? '' : ' (quiet at the stop)'}: first 202 ${recoveryMs.toFixed(0)} ms after pg_ctl start returned`);
        expect(recoveryMs).toBeLessThan(RECOVERY_LIMIT_MS);
      });

      it('loses nothing it acknowledged', () => {
        expect(outcome.unacknowledged, 'webhooks never acknowledged').toBe(0);
        expectStoredOnce(outcome);
      });

      it('delivers every change once', () => {
        expectDelivered(outcome);
        expectNoDeliveryAppliedTwice(outcome);
      });
    });
  }
});
