import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordSyncEvent } from '../src/observability/sync-events.ts';
import { ADMIN_TOKEN, seedPark, startHarness, TEST_NOW, type Harness } from './helpers/harness.ts';
import { expectProblem } from './helpers/problem.ts';
import { connectChannel, sendWebhook } from './helpers/webhooks.ts';
import type { LogItem } from '../src/observability/logs-queries.ts';

/**
 * GET /channels/{channel}/logs through inject on the test database, and the
 * `parksync logs` command against the same app listening on a free port.
 * The harness clock does not move by itself, so every webhook event here
 * shares one occurred_at unless a test moves the clock.
 */

const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));
const BIN = path.join(REPO_ROOT, 'bin', 'parksync.mjs');

const GUEST = { name: 'Ada Lovelace', email: 'ada.lovelace@example.org', phone: '+44 20 7946 0018' };
/** Events written straight to the table, all at one instant, for the paging tests. */
const BULK_CHANNEL = 'pitchup';
const BULK_COUNT = 205;
const BULK_TIME = '2026-12-04T09:00:00.000Z';

/** The logs endpoint's response body. */
interface LogPage {
  items: LogItem[];
  nextCursor: string | null;
}

let harness: Harness;
let secret: string;
let rotatedSecret: string;
let pineSecret: string;
/** Tokens issued in beforeAll; none may appear in an event. */
const issuedTokens: string[] = [];
let pineReader: string;
let channelToken: string;

async function logs(query: string, token?: string | null): Promise<LogPage> {
  const response = await harness.call('GET', `/channels/hipcamp/logs${query}`, undefined, token);
  expect(response.statusCode, response.body).toBe(200);
  return response.json<LogPage>();
}

/** Reads every page with `limit` per page and returns the items in the order they came. */
async function readAll(channel: string, query: string, limit: number): Promise<LogItem[]> {
  const items: LogItem[] = [];
  let cursor: string | null = null;
  for (let pages = 0; pages < 1000; pages += 1) {
    const suffix: string = cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`;
    const response = await harness.call('GET', `/channels/${channel}/logs?limit=${limit}${query}${suffix}`);
    expect(response.statusCode, response.body).toBe(200);
    const page = response.json<LogPage>();
    expect(page.items.length, 'page size').toBeLessThanOrEqual(limit);
    items.push(...page.items);
    cursor = page.nextCursor;
    if (cursor === null) return items;
  }
  throw new Error('paging did not end');
}

/** Reads the pages after `cursor`, 2 items each. */
async function readAllFrom(channel: string, cursor: string): Promise<LogItem[]> {
  const items: LogItem[] = [];
  let next: string | null = cursor;
  while (next !== null) {
    const response = await harness.call('GET', `/channels/${channel}/logs?limit=2&cursor=${encodeURIComponent(next)}`);
    expect(response.statusCode, response.body).toBe(200);
    const page: LogPage = response.json<LogPage>();
    items.push(...page.items);
    next = page.nextCursor;
  }
  return items;
}

async function createToken(body: Record<string, unknown>): Promise<string> {
  const response = await harness.call('POST', '/tokens', body);
  expect(response.statusCode, response.body).toBe(201);
  const token = response.json().token as string;
  issuedTokens.push(token);
  return token;
}

beforeAll(async () => {
  harness = await startHarness();
  await seedPark(harness, 'dune-camp', { cabin: 2 });
  await seedPark(harness, 'pine-woods', { pitch: 3 });
  secret = await connectChannel(harness, 'dune-camp', 'hipcamp');
  pineSecret = await connectChannel(harness, 'pine-woods', 'hipcamp');
  const allotment = await harness.call('POST', '/parks/dune-camp/availability', {
    updates: [{ unitTypeId: 'cabin', from: '2027-01-01', to: '2027-01-31', allotment: 1 }],
  });
  expect(allotment.statusCode).toBe(200);

  pineReader = await createToken({ scopes: ['read'], parkIds: ['pine-woods'], label: 'pine reader' });
  channelToken = await createToken({ scopes: ['read'], channel: 'hipcamp', label: 'hipcamp pull' });

  const reservation = (reservationId: string, arrival: string, departure: string) => ({
    parkId: 'dune-camp',
    reservationId,
    status: 'confirmed',
    unitTypeId: 'cabin',
    arrival,
    departure,
    guests: 2,
    guest: GUEST,
  });
  const sent = [
    // applied availability, then the same key again (replayed), then a lower version (stale)
    await sendWebhook(harness, {
      kind: 'availability',
      secret,
      key: 'avail-1',
      version: 5,
      body: { parkId: 'dune-camp', updates: [{ unitTypeId: 'cabin', from: '2027-02-01', to: '2027-02-03', allotment: 2 }] },
    }),
    await sendWebhook(harness, {
      kind: 'availability',
      secret,
      key: 'avail-1',
      version: 5,
      body: { parkId: 'dune-camp', updates: [{ unitTypeId: 'cabin', from: '2027-02-01', to: '2027-02-03', allotment: 2 }] },
    }),
    await sendWebhook(harness, {
      kind: 'availability',
      secret,
      key: 'avail-2',
      version: 4,
      body: { parkId: 'dune-camp', updates: [{ unitTypeId: 'cabin', from: '2027-02-01', to: '2027-02-01', allotment: 1 }] },
    }),
    // a reservation that fits, then one that overbooks the only unit
    await sendWebhook(harness, { kind: 'reservations', secret, key: 'res-1', version: 1, body: reservation('HC-1', '2027-01-10', '2027-01-12') }),
    await sendWebhook(harness, { kind: 'reservations', secret, key: 'res-2', version: 1, body: reservation('HC-2', '2027-01-11', '2027-01-13') }),
    // a reservation with an invalid guest field (rejected by validation, guest data in the body)
    await sendWebhook(harness, {
      kind: 'reservations',
      secret,
      key: 'res-3',
      version: 1,
      body: { ...reservation('HC-3', '2027-01-20', '2027-01-21'), guest: { ...GUEST, passport: 'X1234567' } },
    }),
    // signed with the wrong secret: 401
    await sendWebhook(harness, {
      kind: 'reservations',
      secret: pineSecret,
      key: 'res-4',
      version: 1,
      body: reservation('HC-4', '2027-01-22', '2027-01-23'),
    }),
    // a park with no connection: the row has no park
    await sendWebhook(harness, {
      kind: 'availability',
      secret,
      key: 'nowhere-1',
      body: { parkId: 'no-such-park', updates: [{ unitTypeId: 'cabin', from: '2027-02-01', to: '2027-02-01', allotment: 1 }] },
    }),
    // the other park
    await sendWebhook(harness, {
      kind: 'availability',
      secret: pineSecret,
      key: 'pine-1',
      version: 1,
      body: { parkId: 'pine-woods', updates: [{ unitTypeId: 'pitch', from: '2027-02-01', to: '2027-02-02', allotment: 3 }] },
    }),
  ];
  expect(sent.map((response) => response.statusCode)).toEqual([202, 202, 409, 202, 409, 422, 401, 404, 202]);

  // A rotation mid-run: the new secret signs the last webhook, and must not appear in any event either.
  const rotated = await harness.call('POST', '/parks/dune-camp/channels/hipcamp/rotate-secret', { graceSeconds: 60 });
  expect(rotated.statusCode).toBe(200);
  rotatedSecret = rotated.json().secret as string;
  harness.clock.advance(60_000);
  const later = await sendWebhook(harness, {
    kind: 'availability',
    secret: rotatedSecret,
    key: 'avail-3',
    version: 6,
    body: { parkId: 'dune-camp', updates: [{ unitTypeId: 'cabin', from: '2027-02-05', to: '2027-02-05', allotment: 2 }] },
  });
  expect(later.statusCode).toBe(202);

  // Outbound attempts on another channel, all at one instant, for the paging tests.
  const at = new Date(BULK_TIME);
  for (let index = 0; index < BULK_COUNT; index += 1) {
    await recordSyncEvent(harness.ctx.db, {
      occurredAt: at,
      parkId: 'dune-camp',
      channel: BULK_CHANNEL,
      direction: 'outbound',
      kind: index % 2 === 0 ? 'availability' : 'rates',
      status: index % 5 === 0 ? 'failed' : 'delivered',
      httpStatus: index % 5 === 0 ? 503 : 200,
      version: index + 1,
      latencyMs: 3,
    });
  }
}, 120_000);

afterAll(async () => {
  await harness?.close();
});

describe('logs items', () => {
  it('returns every field, newest first', async () => {
    const page = await logs('');
    expect(page.items.length).toBe(10);
    expect(page.nextCursor).toBeNull();
    const newest = page.items[0];
    expect(newest).toEqual({
      time: new Date(new Date(TEST_NOW).getTime() + 60_000).toISOString(),
      direction: 'inbound',
      kind: 'availability',
      status: 'applied',
      httpStatus: 202,
      error: null,
      idempotencyKey: 'avail-3',
      version: 6,
      latencyMs: expect.any(Number),
      eventId: expect.stringMatching(/^[0-9a-f-]{36}$/),
      requestId: expect.any(String),
      deliveryId: null,
      parkId: 'dune-camp',
      channel: 'hipcamp',
      detail: { updates: 1, nights: 1, conflicts: 0, conflictNights: [] },
    });
    const times = page.items.map((item) => item.time);
    expect(times).toEqual([...times].sort().reverse());
  });

  it('records the outcome of each request', async () => {
    const page = await logs('?parkId=dune-camp');
    const byKey = new Map(page.items.map((item) => [item.idempotencyKey, item]));
    expect(byKey.get('avail-2')).toMatchObject({ status: 'stale', httpStatus: 409, version: 4 });
    expect(byKey.get('res-2')).toMatchObject({ status: 'overbook', httpStatus: 409, kind: 'reservations' });
    expect(byKey.get('res-2')?.error).toMatch(/^overbooked: /);
    expect(byKey.get('res-2')?.detail).toEqual({
      reservationId: 'HC-2',
      failedNights: [{ unitTypeId: 'cabin', date: '2027-01-11', requested: 1, available: 0, stopSell: false }],
    });
    expect(byKey.get('res-3')).toMatchObject({ status: 'rejected', httpStatus: 422 });
    const statuses = page.items.filter((item) => item.idempotencyKey === 'avail-1').map((item) => item.status);
    expect(statuses.sort()).toEqual(['applied', 'replayed']);
  });
});

describe('logs filters', () => {
  it('filters by status', async () => {
    const page = await logs('?status=overbook');
    expect(page.items.map((item) => item.idempotencyKey)).toEqual(['res-2']);
  });

  it('filters by kind', async () => {
    const page = await logs('?kind=reservations');
    expect(page.items.length).toBe(4);
    expect(new Set(page.items.map((item) => item.kind))).toEqual(new Set(['reservations']));
  });

  it('filters by direction', async () => {
    expect((await logs('?direction=outbound')).items).toEqual([]);
    expect((await logs('?direction=inbound')).items.length).toBe(10);
  });

  it('filters by park', async () => {
    const page = await logs('?parkId=pine-woods');
    expect(page.items.map((item) => item.idempotencyKey)).toEqual(['pine-1']);
  });

  it('filters by since and until', async () => {
    const minuteLater = new Date(new Date(TEST_NOW).getTime() + 60_000).toISOString();
    const since = await logs(`?since=${encodeURIComponent(minuteLater)}`);
    expect(since.items.map((item) => item.idempotencyKey)).toEqual(['avail-3']);
    const until = await logs(`?until=${encodeURIComponent(minuteLater)}`);
    expect(until.items.length).toBe(9);
    expect(until.items.map((item) => item.idempotencyKey)).not.toContain('avail-3');
    const offset = await logs(`?since=${encodeURIComponent('2026-12-04T13:00:00+01:00')}&until=${encodeURIComponent('2026-12-04T13:00:00.001+01:00')}`);
    expect(offset.items.length).toBe(9);
  });

  it('combines filters', async () => {
    const page = await logs('?parkId=dune-camp&kind=availability&status=applied&direction=inbound');
    expect(page.items.map((item) => item.idempotencyKey)).toEqual(['avail-3', 'avail-1']);
  });
});

describe('logs paging', () => {
  it('pages one instant without loss or repeats', async () => {
    const stored = await harness.ctx.db
      .selectFrom('channel_sync_events')
      .select('event_id')
      .where('channel', '=', BULK_CHANNEL)
      .orderBy('event_id', 'desc')
      .execute();
    expect(stored.length).toBe(BULK_COUNT);
    for (const limit of [1, 7, 100, 205, 1000]) {
      const items = await readAll(BULK_CHANNEL, '', limit);
      expect(items.map((item) => item.eventId), `limit ${limit}`).toEqual(stored.map((row) => row.event_id));
    }
  });

  it('pages a filtered read', async () => {
    const items = await readAll(BULK_CHANNEL, '&status=failed&kind=availability', 4);
    expect(items.length).toBe(21);
    expect(new Set(items.map((item) => item.eventId)).size).toBe(21);
    for (const item of items) {
      expect(item).toMatchObject({ status: 'failed', kind: 'availability', httpStatus: 503 });
    }
  });

  it('ends without an empty page', async () => {
    const first = await harness.call('GET', `/channels/${BULK_CHANNEL}/logs?limit=${BULK_COUNT}`);
    expect(first.json<LogPage>().nextCursor).toBeNull();
    const short = await harness.call('GET', `/channels/${BULK_CHANNEL}/logs?limit=${BULK_COUNT - 1}`);
    const next = short.json<LogPage>().nextCursor;
    expect(next).not.toBeNull();
    const last = await harness.call('GET', `/channels/${BULK_CHANNEL}/logs?limit=${BULK_COUNT - 1}&cursor=${next}`);
    expect(last.json<LogPage>().items.length).toBe(1);
    expect(last.json<LogPage>().nextCursor).toBeNull();
  });

  it('keeps microseconds in the cursor', async () => {
    // Two rows a microsecond apart: a cursor rounded to milliseconds would skip the second.
    await sql`insert into channel_sync_events (occurred_at, park_id, channel, direction, kind, status)
      values ('2026-12-04T08:00:00.000002Z', 'dune-camp', 'micro-channel', 'outbound', 'rates', 'delivered'),
             ('2026-12-04T08:00:00.000001Z', 'dune-camp', 'micro-channel', 'outbound', 'rates', 'failed')`.execute(harness.ctx.db);
    const items = await readAll('micro-channel', '', 1);
    expect(items.map((item) => item.status)).toEqual(['delivered', 'failed']);
  });

  it('shows older rows written between pages', async () => {
    const channel = 'late-channel';
    const write = (occurredAt: string) =>
      recordSyncEvent(harness.ctx.db, { occurredAt: new Date(occurredAt), parkId: 'dune-camp', channel, direction: 'outbound', kind: 'rates', status: 'delivered' });
    for (let index = 0; index < 6; index += 1) await write('2026-12-04T10:00:00Z');
    const first = (await harness.call('GET', `/channels/${channel}/logs?limit=3`)).json<LogPage>();
    const older = await write('2026-12-04T07:00:00Z');
    await write('2026-12-04T11:00:00Z');
    const rest = await readAllFrom(channel, first.nextCursor as string);
    const seen = [...first.items, ...rest].map((item) => item.eventId);
    expect(seen.length).toBe(7);
    expect(new Set(seen).size).toBe(7);
    expect(seen.at(-1)).toBe(older);
  });
});

describe('logs access', () => {
  it('limits a park token to its parks', async () => {
    const page = await logs('', pineReader);
    expect(page.items.map((item) => item.idempotencyKey)).toEqual(['pine-1']);
    expect((await logs('?parkId=pine-woods', pineReader)).items.length).toBe(1);
  });

  it('hides rows without a park from a park token', async () => {
    const all = await logs('?status=rejected');
    expect(all.items.some((item) => item.parkId === null)).toBe(true);
    expect((await logs('?status=rejected', pineReader)).items).toEqual([]);
  });

  it('rejects another park for a park token', async () => {
    const response = await harness.call('GET', '/channels/hipcamp/logs?parkId=dune-camp', undefined, pineReader);
    expectProblem(response, 403, 'forbidden_park');
  });

  it('rejects channel tokens and missing tokens', async () => {
    expectProblem(await harness.call('GET', '/channels/hipcamp/logs?parkId=dune-camp', undefined, channelToken), 403, 'forbidden');
    expectProblem(await harness.call('GET', '/channels/hipcamp/logs', undefined, null), 401, 'unauthorized');
  });
});

describe('logs bad input', () => {
  const cases: Array<[string, string]> = [
    ['limit=0', 'query:limit'],
    ['limit=1001', 'query:limit'],
    ['limit=ten', 'query:limit'],
    ['status=lost', 'query:status'],
    ['kind=pricing', 'query:kind'],
    ['direction=sideways', 'query:direction'],
    ['since=yesterday', 'query:since'],
    ['until=2026-12-04', 'query:until'],
    ['since=2026-12-04T12:00:00', 'query:since'],
    ['parkId=Dune_Camp', 'query:parkId'],
    ['page=2', 'query:page'],
    ['since=2026-12-04T12:00:00Z&until=2026-12-04T11:00:00Z', 'query:until'],
    ['since=2026-12-04T12:00:00Z&until=2026-12-04T12:00:00Z', 'query:until'],
  ];
  for (const [query, field] of cases) {
    it(`rejects ${query}`, async () => {
      expectProblem(await harness.call('GET', `/channels/hipcamp/logs?${query}`), 422, 'validation_failed', field);
    });
  }

  it('rejects a malformed channel', async () => {
    expectProblem(await harness.call('GET', '/channels/Hip_Camp/logs'), 422, 'validation_failed', 'params:channel');
  });

  it('rejects malformed cursors', async () => {
    const valid = (await harness.call('GET', `/channels/${BULK_CHANNEL}/logs?limit=1`)).json<LogPage>().nextCursor as string;
    const document = JSON.parse(Buffer.from(valid, 'base64url').toString('utf8')) as Record<string, unknown>;
    const encode = (value: unknown) => Buffer.from(JSON.stringify(value), 'utf8').toString('base64url');
    const bad = [
      'not a cursor',
      'AAAA',
      Buffer.from('{"v":1', 'utf8').toString('base64url'),
      encode([1, 2]),
      encode({ ...document, v: 2 }),
      encode({ ...document, t: '2026-12-04T09:00:00Z' }),
      encode({ ...document, t: '2026-13-45T09:00:00.000000Z' }),
      encode({ ...document, id: 'not-a-uuid' }),
      encode({ ...document, extra: true }),
      'x'.repeat(513),
    ];
    for (const cursor of bad) {
      const response = await harness.call('GET', `/channels/${BULK_CHANNEL}/logs?cursor=${encodeURIComponent(cursor)}`);
      if (cursor.length > 512) {
        expectProblem(response, 422, 'validation_failed', 'query:cursor');
      } else {
        expectProblem(response, 400, 'invalid_cursor');
      }
    }
  });

  it('rejects a cursor of another channel', async () => {
    const valid = (await harness.call('GET', `/channels/${BULK_CHANNEL}/logs?limit=1`)).json<LogPage>().nextCursor as string;
    const response = await harness.call('GET', `/channels/hipcamp/logs?cursor=${valid}`);
    const problem = expectProblem(response, 400, 'invalid_cursor');
    expect(problem.detail).toContain('hipcamp');
  });
});

describe('logs privacy', () => {
  it('returns no secret, token or guest data', async () => {
    const channels = ['hipcamp', BULK_CHANNEL];
    const rows: LogItem[] = [];
    for (const channel of channels) rows.push(...(await readAll(channel, '', 1000)));
    expect(rows.length).toBeGreaterThan(BULK_COUNT);
    const text = JSON.stringify(rows);
    const secrets = [secret, rotatedSecret, pineSecret].flatMap((value) => [value, value.slice('whsec_'.length)]);
    const forbidden = [...secrets, ADMIN_TOKEN, ...issuedTokens, GUEST.name, GUEST.email, GUEST.phone, 'X1234567'];
    for (const value of forbidden) {
      expect(text, `a log row contains ${value.slice(0, 12)}...`).not.toContain(value);
    }
  });
});

describe('parksync logs', () => {
  let url: string;

  beforeAll(async () => {
    url = await harness.app.listen({ host: '127.0.0.1', port: 0 });
  });

  function runCli(args: string[]): Promise<{ exitCode: number; stdout: string; stderr: string }> {
    const env: NodeJS.ProcessEnv = { ...process.env, PARKSYNC_URL: url, PARKSYNC_TOKEN: ADMIN_TOKEN };
    return new Promise((resolve, reject) => {
      execFile(process.execPath, [BIN, ...args], { cwd: REPO_ROOT, env, timeout: 30_000 }, (error, stdout, stderr) => {
        if (error && typeof error.code !== 'number') return reject(error);
        resolve({ exitCode: error ? (error.code as number) : 0, stdout, stderr });
      });
    });
  }

  it('prints a filtered page', async () => {
    const result = await runCli(['logs', 'hipcamp', '--park-id', 'dune-camp', '--status', 'overbook', '--kind', 'reservations', '--limit', '5']);
    expect(result.stderr).toBe('');
    expect(result.exitCode).toBe(0);
    const page = JSON.parse(result.stdout) as LogPage;
    expect(page.items.map((item) => item.idempotencyKey)).toEqual(['res-2']);
  });

  it('pages with --cursor', async () => {
    const first = JSON.parse((await runCli(['logs', BULK_CHANNEL, '--limit', '200'])).stdout) as LogPage;
    const second = await runCli(['logs', BULK_CHANNEL, '--limit', '200', '--cursor', first.nextCursor as string]);
    expect(second.exitCode).toBe(0);
    const page = JSON.parse(second.stdout) as LogPage;
    expect(page.items.length).toBeGreaterThan(0);
    const firstIds = new Set(first.items.map((item) => item.eventId));
    expect(page.items.some((item) => firstIds.has(item.eventId))).toBe(false);
  });

  it('reports an invalid filter', async () => {
    const result = await runCli(['logs', 'hipcamp', '--since', 'yesterday', '--direction', 'up']);
    expect(result.exitCode).toBe(1);
    const problem = JSON.parse(result.stderr) as { code: string; errors: Array<{ field: string }> };
    expect(problem.code).toBe('validation_failed');
    expect(problem.errors.map((error) => error.field).sort()).toEqual(['query:direction', 'query:since']);
  });

  it('rejects a limit over 1000 before sending', async () => {
    const result = await runCli(['logs', 'hipcamp', '--limit', '1001']);
    expect(result.exitCode).not.toBe(0);
    expect(result.stderr).toContain('1 to 1000');
  });
});
