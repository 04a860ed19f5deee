import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIRST_TOKEN_FILE } from '../src/auth/first-token.ts';
import { startService, type RunningService } from '../src/service.ts';
import { ManualClock } from '../src/lib/clock.ts';
import { createTestDatabase, testDatabaseKind, type TestDatabase } from './helpers/database.ts';
import { TEST_NOW, testConfig } from './helpers/harness.ts';

/**
 * Runs the real CLI (bin/parksync.mjs) as a child process against a real
 * service listening on a free port. Each spawn loads the sources through tsx,
 * which takes a second or more, so independent commands run in parallel.
 */

const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));
const BIN = path.join(REPO_ROOT, 'bin', 'parksync.mjs');

interface CliRun {
  exitCode: number;
  stdout: string;
  stderr: string;
}

let service: RunningService;
let database: TestDatabase | undefined;
let dataDir: string;
let adminToken: string;

/** Environment of every CLI run: no inherited token or URL, and the test's data directory. */
function childEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, PARKSYNC_DATA_DIR: dataDir };
  delete env.PARKSYNC_TOKEN;
  delete env.PARKSYNC_URL;
  return env;
}

/**
 * Runs `parksync --url <service> [--token <token>] ...args`. The admin token is
 * sent unless `token` is given; null sends none, so the CLI falls back to the
 * token file in the data directory.
 */
function runCli(args: string[], options: { token?: string | null; url?: string } = {}): Promise<CliRun> {
  const token = options.token === undefined ? adminToken : options.token;
  const argv = [BIN, '--url', options.url ?? (service.url as string), ...(token === null ? [] : ['--token', token]), ...args];
  return new Promise((resolve, reject) => {
    execFile(process.execPath, argv, { cwd: REPO_ROOT, env: childEnv(), timeout: 30_000 }, (error, stdout, stderr) => {
      if (error && typeof error.code !== 'number') {
        reject(new Error(`parksync ${args.join(' ')} did not run: ${error.message}\n${stderr}`));
        return;
      }
      resolve({ exitCode: error ? (error.code as number) : 0, stdout, stderr });
    });
  });
}

/** Parses the JSON a successful command prints, failing with its output when it did not succeed. */
function output<T = Record<string, unknown>>(run: CliRun): T {
  expect(run.exitCode, `exit code; stderr: ${run.stderr}`).toBe(0);
  expect(run.stderr, 'stderr of a successful command').toBe('');
  return JSON.parse(run.stdout) as T;
}

/** Finds a free port and leaves it closed, so a request to it is refused. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port assigned');
  return address.port;
}

beforeAll(async () => {
  dataDir = await mkdtemp(path.join(tmpdir(), 'parksync-cli-'));
  database = testDatabaseKind() === 'postgres' ? await createTestDatabase() : undefined;
  // No adminToken, so the service writes the first-start token file as it does for a newcomer.
  const config = testConfig({ adminToken: undefined, dataDir, databaseUrl: database?.url });
  service = await startService('serve', config, { clock: new ManualClock(TEST_NOW) });
  adminToken = (await readFile(path.join(dataDir, FIRST_TOKEN_FILE), 'utf8')).trim();
});

afterAll(async () => {
  await service?.stop();
  await database?.drop();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

// Each command spawns a process, so a group of them can outlast the default 30 s under load.
describe('parksync CLI', { timeout: 120_000 }, () => {
  it('writes token file with mode 0600', async () => {
    const file = await stat(path.join(dataDir, FIRST_TOKEN_FILE));
    expect(file.mode & 0o777).toBe(0o600);
    expect(adminToken).toMatch(/^pst_/);
  });

  it('creates a park and reports errors', async () => {
    const port = await closedPort();
    const [created, missing, refused] = await Promise.all([
      runCli(['parks', 'create', '--park-id', 'dune-camp', '--name', 'Dune Camp', '--timezone', 'Europe/Amsterdam', '--currency', 'EUR']),
      // No --token: the CLI reads <data dir>/admin-token, so the response is 404, not 401.
      runCli(['parks', 'get', 'no-such-park'], { token: null }),
      runCli(['parks', 'list'], { url: `http://127.0.0.1:${port}` }),
    ]);

    expect(output(created)).toMatchObject({
      parkId: 'dune-camp',
      name: 'Dune Camp',
      timezone: 'Europe/Amsterdam',
      currency: 'EUR',
      unitTypes: [],
      connections: [],
    });

    expect(missing.exitCode).toBe(1);
    expect(missing.stdout).toBe('');
    const problem = JSON.parse(missing.stderr) as Record<string, unknown>;
    expect(problem).toMatchObject({
      type: 'urn:parksync:problem:park_not_found',
      title: 'Park not found',
      status: 404,
      code: 'park_not_found',
      instance: '/parks/no-such-park',
    });
    expect(problem.detail).toContain('no-such-park');
    expect(typeof problem.requestId).toBe('string');

    expect(refused.exitCode).toBe(1);
    expect(refused.stdout).toBe('');
    expect(refused.stderr.trim().split('\n')).toHaveLength(1);
    expect(refused.stderr).toContain(`http://127.0.0.1:${port}`);
    expect(refused.stderr).toContain('ECONNREFUSED');
  });

  let secret: string;

  it('puts a unit type and connection', async () => {
    const [unitType, connection] = await Promise.all([
      runCli(['unit-types', 'put', 'dune-camp', 'cabin', '--name', 'Beach cabin', '--units', '5']),
      runCli([
        'channels', 'put', 'dune-camp', 'booking',
        '--endpoint-url', 'https://channel.example/parksync', '--rate-limit-in', '5/10', '--max-attempts', '4',
      ]),
    ]);
    expect(output(unitType)).toEqual({ parkId: 'dune-camp', unitTypeId: 'cabin', name: 'Beach cabin', units: 5 });

    const created = output(connection);
    expect(created).toMatchObject({
      parkId: 'dune-camp',
      channel: 'booking',
      enabled: true,
      paused: false,
      endpointUrl: 'https://channel.example/parksync',
      adapter: 'generic-json',
      rateLimitIn: { perSecond: 5, burst: 10 },
      maxAttempts: 4,
    });
    expect(created.secret).toMatch(/^whsec_[A-Za-z0-9+/]+={0,2}$/);
    secret = created.secret as string;
  });

  it('sets availability and rates', async () => {
    const [availability, rates, flag] = await Promise.all([
      runCli([
        'availability', 'set', 'dune-camp',
        '--unit-type', 'cabin', '--from', '2027-07-01', '--to', '2027-07-07', '--allotment', '4', '--min-stay', '2',
      ]),
      runCli([
        'rates', 'set', 'dune-camp',
        '--currency', 'EUR', '--unit-type', 'cabin', '--from', '2027-07-01', '--to', '2027-07-07', '--amount', '129.00',
      ]),
      runCli(['flags', 'get', 'channel_sync_webhooks', '--channel', 'booking', '--park-id', 'dune-camp']),
    ]);
    expect(output(availability)).toEqual({ status: 'applied', nights: 7, conflicts: [] });
    expect(output(rates)).toEqual({ status: 'applied', nights: 7 });
    expect(output(flag)).toEqual({ flag: 'channel_sync_webhooks', channel: 'booking', parkId: 'dune-camp', value: 'shadow' });
  });

  it('creates a direct reservation', async () => {
    const reservation = await runCli([
      'reservations', 'create', 'dune-camp',
      '--reservation-id', 'r-1001', '--unit-type', 'cabin',
      '--arrival', '2027-07-02', '--departure', '2027-07-05', '--units', '2', '--guests', '4',
    ]);
    expect(output(reservation)).toMatchObject({
      outcome: 'created',
      parkId: 'dune-camp',
      channel: 'direct',
      reservationId: 'r-1001',
      status: 'confirmed',
      nights: 3,
      units: 2,
      guests: 4,
    });
  });

  let issued: { tokenId: string; token: string; scopes: string[]; parkIds: string[] };

  it('reads back and changes settings', async () => {
    const [availability, rates, reservation, park, parks, connection, rotated, flag, token] = await Promise.all([
      runCli(['availability', 'get', 'dune-camp', '--unit-type', 'cabin', '--from', '2027-07-01', '--to', '2027-07-02']),
      runCli(['rates', 'get', 'dune-camp', '--from', '2027-07-07', '--to', '2027-07-08']),
      runCli(['reservations', 'get', 'dune-camp', 'direct', 'r-1001']),
      runCli(['parks', 'get', 'dune-camp']),
      runCli(['parks', 'list']),
      runCli(['channels', 'get', 'dune-camp', 'booking']),
      runCli(['channels', 'rotate-secret', 'dune-camp', 'booking', '--grace-seconds', '3600', '--note', 'yearly rotation']),
      runCli([
        'flags', 'set', 'channel_sync_webhooks', 'on',
        '--channel', 'booking', '--park-id', 'dune-camp', '--note', 'shadow week clean',
      ]),
      runCli(['tokens', 'create', '--scopes', 'read', '--park-ids', 'dune-camp', '--label', 'front desk']),
    ]);

    const nights = output<{ items: Array<Record<string, unknown>> }>(availability).items;
    expect(nights).toHaveLength(2);
    expect(nights[0]).toMatchObject({ date: '2027-07-01', allotment: 4, booked: 0, available: 4, minStay: 2, stopSell: false });
    expect(nights[1]).toMatchObject({ date: '2027-07-02', allotment: 4, booked: 2, available: 2 });

    // 2027-07-08 has no rate, so only the last night of the range comes back.
    expect(output(rates)).toEqual({
      items: [{ unitTypeId: 'cabin', ratePlanId: 'standard', date: '2027-07-07', amount: '129.00', amountMinor: 12900, currency: 'EUR' }],
    });

    expect(output(reservation)).toMatchObject({ reservationId: 'r-1001', arrival: '2027-07-02', departure: '2027-07-05', units: 2 });

    const parkView = output(park);
    expect(parkView.unitTypes).toEqual([{ unitTypeId: 'cabin', name: 'Beach cabin', units: 5 }]);
    expect(parkView.connections).toEqual([expect.objectContaining({ channel: 'booking' })]);
    expect(park.stdout).not.toContain(secret);

    expect(output(parks)).toEqual({ items: [expect.objectContaining({ parkId: 'dune-camp' })] });

    const connectionView = output(connection);
    expect(connectionView).toMatchObject({ channel: 'booking', rateLimitIn: { perSecond: 5, burst: 10 } });
    expect(connectionView).not.toHaveProperty('secret');

    const rotation = output(rotated);
    expect(rotation.secret).toMatch(/^whsec_/);
    expect(rotation.secret).not.toBe(secret);
    expect(rotation.previousSecretValidUntil).toBe('2026-12-04T13:00:00.000Z');

    expect(output(flag)).toEqual({ flag: 'channel_sync_webhooks', value: 'on', channel: 'booking', parkId: 'dune-camp', effective: 'on' });

    issued = output<typeof issued>(token);
    expect(issued.tokenId).toMatch(/^tok_/);
    expect(issued.token).toMatch(/^pst_/);
    expect(issued.scopes).toEqual(['read']);
    expect(issued.parkIds).toEqual(['dune-camp']);
  });

  it('lists flags and revokes token', async () => {
    const [listed, revoked] = await Promise.all([runCli(['flags', 'list']), runCli(['tokens', 'revoke', issued.tokenId])]);

    const flags = output<{ items: Array<{ flag: string; defaultValue: string; settings: unknown[] }> }>(listed).items;
    expect(flags.map((item) => item.flag)).toEqual(['channel_sync_webhooks', 'channel_reconcile_jobs', 'discount_engine_v2', 'public_publish']);
    expect(flags[0]).toEqual({
      flag: 'channel_sync_webhooks',
      defaultValue: 'shadow',
      allowedValues: ['off', 'shadow', 'on'],
      settings: [{ value: 'on', channel: 'booking', parkId: 'dune-camp' }],
    });

    expect(output(revoked)).toEqual({ tokenId: issued.tokenId, revoked: true });
  });

  it('rejects revoked token, reads audit', async () => {
    const [afterRevoke, audit] = await Promise.all([
      runCli(['parks', 'list'], { token: issued.token }),
      runCli(['audit', '--park-id', 'dune-camp']),
    ]);

    expect(afterRevoke.exitCode).toBe(1);
    expect(JSON.parse(afterRevoke.stderr)).toMatchObject({ code: 'unauthorized', status: 401 });

    const entries = output<{ items: Array<Record<string, unknown>>; nextCursor: string | null }>(audit);
    expect(entries.items.map((entry) => entry.action).sort()).toEqual([
      'availability.set',
      'connection.create',
      'connection.rotate_secret',
      'flag.set',
      'park.create',
      'rates.set',
      'reservation.created',
      'unit_type.create',
    ]);
    const ids = entries.items.map((entry) => entry.auditId as number);
    expect(ids, 'newest first').toEqual([...ids].sort((a, b) => b - a));
    expect(entries.nextCursor).toBeNull();
    expect(entries.items.find((entry) => entry.action === 'flag.set')).toMatchObject({
      note: 'shadow week clean',
      details: { flag: 'channel_sync_webhooks', value: 'on', previous: 'shadow' },
    });
    expect(entries.items.find((entry) => entry.action === 'connection.rotate_secret')).toMatchObject({
      note: 'yearly rotation',
      channel: 'booking',
    });
    expect(audit.stdout).not.toContain(secret);
  });
});
