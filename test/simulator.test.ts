import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';
import { request } from 'undici';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { decodeSigningSecret, generateSigningSecret } from '../src/channels/secrets.ts';
import { sendWebhook, startSimulator, type Simulator } from '../src/channels/simulator/index.ts';
import {
  anyDigestMatches,
  expectedParksyncDigest,
  expectedStandardDigest,
  parseParksyncSignatures,
  parseStandardSignatures,
  signBody,
} from '../src/webhooks/signature.ts';

const CHANNEL = 'hipcamp';
const PARK = 'pine-grove';
const SECRET = generateSigningSecret();

let simulator: Simulator;

interface PushOptions {
  kind?: 'availability' | 'rates';
  channel?: string;
  body: unknown;
  version?: number | null;
  key?: string | null;
  /** Secret to sign with; null sends no signature headers. */
  secret?: string | null;
  /** Raw text sent in place of the JSON body, for malformed bodies. */
  rawText?: string;
}

let keyCounter = 0;

/** Sends one push to the simulator as parksync's delivery worker would. */
async function push(options: PushOptions) {
  const raw = Buffer.from(options.rawText ?? JSON.stringify(options.body), 'utf8');
  const secret = options.secret === undefined ? SECRET : options.secret;
  const key = options.key === undefined ? `delivery-${++keyCounter}` : options.key;
  const version = options.version === undefined ? 1 : options.version;
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    ...(secret === null ? {} : signBody(secret, raw, Math.floor(Date.now() / 1000))),
    ...(key === null ? {} : { 'idempotency-key': key }),
    ...(version === null ? {} : { 'x-version': String(version) }),
  };
  const url = `${simulator.url}/channels/${options.channel ?? CHANNEL}/${options.kind ?? 'availability'}`;
  const response = await request(url, { method: 'POST', headers, body: raw });
  const text = await response.body.text();
  return { status: response.statusCode, headers: response.headers, body: text === '' ? null : JSON.parse(text) };
}

async function control(method: 'GET' | 'PUT' | 'POST', path: string, body?: unknown) {
  const response = await request(`${simulator.url}${path}`, {
    method,
    ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
  });
  // Control API responses are plain JSON, and the tests read fields without declaring each shape.
  return { status: response.statusCode, body: (await response.body.json()) as any };
}

function availabilityBody(updates: Record<string, unknown>[]) {
  return { parkId: PARK, updates };
}

beforeAll(async () => {
  simulator = await startSimulator({ port: 0 });
});

afterAll(async () => {
  await simulator.close();
});

beforeEach(async () => {
  await control('POST', '/_control/reset');
  const registered = await control('PUT', `/_control/connections/${CHANNEL}/${PARK}`, { secret: SECRET });
  expect(registered.status).toBe(201);
});

describe('simulator pushes', () => {
  it('expands availability into nights', async () => {
    const answer = await push({
      body: availabilityBody([{ unitTypeId: 'lakeside-cabin', from: '2027-07-01', to: '2027-07-03', available: 4, stopSell: false, minStay: 2 }]),
      version: 7,
    });
    expect(answer.status).toBe(200);
    expect(answer.body).toEqual({ received: true });

    const view = await control('GET', `/_control/view/${CHANNEL}/${PARK}`);
    expect(view.status).toBe(200);
    expect(view.body.availability).toEqual(
      ['2027-07-01', '2027-07-02', '2027-07-03'].map((date) => ({
        unitTypeId: 'lakeside-cabin',
        date,
        available: 4,
        stopSell: false,
        minStay: 2,
        version: 7,
      })),
    );
    expect(view.body.rates).toEqual([]);

    const received = await control('GET', '/_control/received');
    expect(received.body.items).toHaveLength(1);
    expect(received.body.items[0]).toMatchObject({ channel: CHANNEL, parkId: PARK, kind: 'availability', status: 'applied', httpStatus: 200, version: 7, updates: 1 });
    expect(received.body.counts.applied).toBe(1);
  });

  it('keeps restrictions a later push leaves out', async () => {
    await push({ body: availabilityBody([{ unitTypeId: 'pitch', from: '2027-07-01', to: '2027-07-02', available: 3, stopSell: true, minStay: 3 }]), version: 1 });
    await push({ body: availabilityBody([{ unitTypeId: 'pitch', from: '2027-07-02', to: '2027-07-02', available: 1, minStay: null }]), version: 2 });

    const view = await control('GET', `/_control/view/${CHANNEL}/${PARK}`);
    expect(view.body.availability).toEqual([
      { unitTypeId: 'pitch', date: '2027-07-01', available: 3, stopSell: true, minStay: 3, version: 1 },
      { unitTypeId: 'pitch', date: '2027-07-02', available: 1, stopSell: true, minStay: null, version: 2 },
    ]);
  });

  it('stores rates per rate plan and night', async () => {
    const answer = await push({
      kind: 'rates',
      body: {
        parkId: PARK,
        currency: 'EUR',
        updates: [
          { unitTypeId: 'pitch', from: '2027-07-01', to: '2027-07-02', amount: '29.00' },
          { unitTypeId: 'pitch', ratePlanId: 'non-refundable', from: '2027-07-02', to: '2027-07-02', amount: '25.50' },
        ],
      },
      version: 3,
    });
    expect(answer.status).toBe(200);

    const view = await control('GET', `/_control/view/${CHANNEL}/${PARK}`);
    expect(view.body.rates).toEqual([
      { unitTypeId: 'pitch', ratePlanId: 'non-refundable', date: '2027-07-02', amount: '25.50', currency: 'EUR', version: 3 },
      { unitTypeId: 'pitch', ratePlanId: 'standard', date: '2027-07-01', amount: '29.00', currency: 'EUR', version: 3 },
      { unitTypeId: 'pitch', ratePlanId: 'standard', date: '2027-07-02', amount: '29.00', currency: 'EUR', version: 3 },
    ]);
  });

  it('rejects a wrong signature with 401', async () => {
    const body = availabilityBody([{ unitTypeId: 'pitch', from: '2027-07-01', to: '2027-07-01', available: 2 }]);
    const wrongSecret = await push({ body, secret: generateSigningSecret() });
    const unsigned = await push({ body, secret: null });

    expect(wrongSecret.status).toBe(401);
    expect(wrongSecret.body.code).toBe('invalid_signature');
    expect(unsigned.status).toBe(401);

    const view = await control('GET', `/_control/view/${CHANNEL}/${PARK}`);
    expect(view.body.availability).toEqual([]);
    const received = await control('GET', '/_control/received');
    expect(received.body.items.map((entry: { reason: string }) => entry.reason)).toEqual(['signature_mismatch', 'missing_timestamp']);
    expect(received.body.counts.unauthorized).toBe(2);
  });

  it('rejects a body signed over other bytes', async () => {
    const body = availabilityBody([{ unitTypeId: 'pitch', from: '2027-07-01', to: '2027-07-01', available: 2 }]);
    const raw = JSON.stringify(body);
    const headers = {
      'content-type': 'application/json',
      'idempotency-key': 'tampered',
      'x-version': '1',
      ...signBody(SECRET, raw, Math.floor(Date.now() / 1000)),
    };
    const response = await request(`${simulator.url}/channels/${CHANNEL}/availability`, {
      method: 'POST',
      headers,
      body: raw.replace('"available":2', '"available":9'),
    });
    await response.body.dump();

    expect(response.statusCode).toBe(401);
    expect((await control('GET', `/_control/view/${CHANNEL}/${PARK}`)).body.availability).toEqual([]);
  });

  it('rejects invalid JSON with 400', async () => {
    const answer = await push({ body: null, rawText: '{"parkId": "pine-grove",' });
    expect(answer.status).toBe(400);
    expect(answer.body.code).toBe('invalid_json');
  });

  it('returns 404 for an unregistered connection', async () => {
    const answer = await push({ body: { parkId: 'other-park', updates: [] } });
    expect(answer.status).toBe(404);
    expect(answer.body.code).toBe('unknown_connection');
  });

  it('requires Idempotency-Key and X-Version', async () => {
    const body = availabilityBody([{ unitTypeId: 'pitch', from: '2027-07-01', to: '2027-07-01', available: 2 }]);
    const withoutKey = await push({ body, key: null });
    const withoutVersion = await push({ body, version: null });

    expect(withoutKey.status).toBe(400);
    expect(withoutKey.body.code).toBe('invalid_idempotency_key');
    expect(withoutVersion.status).toBe(400);
    expect(withoutVersion.body.code).toBe('invalid_version');
  });

  it('rejects a body off the contract with 422', async () => {
    const answer = await push({ body: availabilityBody([{ unitTypeId: 'pitch', from: '2027-07-03', to: '2027-07-01', allotment: 2 }]) });
    expect(answer.status).toBe(422);
    expect(answer.body.code).toBe('validation_failed');
    const fields = answer.body.errors.map((error: { field: string }) => error.field);
    expect(fields).toContain('updates[0].available');
    expect(fields).toContain('updates[0].allotment');
  });

  it('rejects a range that ends before it starts', async () => {
    const answer = await push({ body: availabilityBody([{ unitTypeId: 'pitch', from: '2027-07-03', to: '2027-07-01', available: 2 }]) });
    expect(answer.status).toBe(422);
    expect(answer.body.errors).toEqual([{ field: 'updates[0].to', message: 'must not be before from (2027-07-03)' }]);
  });

  it('applies a repeated Idempotency-Key once', async () => {
    const first = availabilityBody([{ unitTypeId: 'pitch', from: '2027-07-01', to: '2027-07-01', available: 5 }]);
    const changed = availabilityBody([{ unitTypeId: 'pitch', from: '2027-07-01', to: '2027-07-01', available: 9 }]);

    const original = await push({ body: first, key: 'delivery-42', version: 1 });
    const repeat = await push({ body: first, key: 'delivery-42', version: 1 });
    const repeatWithOtherBody = await push({ body: changed, key: 'delivery-42', version: 2 });

    expect(original.status).toBe(200);
    expect(original.headers['idempotent-replayed']).toBeUndefined();
    expect(repeat.status).toBe(200);
    expect(repeat.body).toEqual({ received: true });
    expect(repeat.headers['idempotent-replayed']).toBe('true');
    expect(repeatWithOtherBody.status).toBe(200);

    const view = await control('GET', `/_control/view/${CHANNEL}/${PARK}`);
    expect(view.body.availability).toEqual([{ unitTypeId: 'pitch', date: '2027-07-01', available: 5, version: 1 }]);

    const received = await control('GET', '/_control/received?status=duplicate');
    expect(received.body.counts.duplicate).toBe(2);
    expect(received.body.counts.applied).toBe(1);
    expect(received.body.items.map((entry: { bodyDiffers: boolean }) => entry.bodyDiffers)).toEqual([false, true]);
  });

  it('returns the stored 409 for a repeated stale push', async () => {
    const body = availabilityBody([{ unitTypeId: 'pitch', from: '2027-07-01', to: '2027-07-01', available: 5 }]);
    await push({ body, version: 5 });
    const stale = await push({ body, key: 'late', version: 4 });
    const staleAgain = await push({ body, key: 'late', version: 4 });

    expect(stale.status).toBe(409);
    expect(staleAgain.status).toBe(409);
    expect(staleAgain.body).toEqual(stale.body);
    expect(staleAgain.headers['idempotent-replayed']).toBe('true');
  });

  it('rejects a lower version with 409', async () => {
    const newer = availabilityBody([{ unitTypeId: 'pitch', from: '2027-07-01', to: '2027-07-01', available: 5 }]);
    const older = availabilityBody([{ unitTypeId: 'pitch', from: '2027-07-01', to: '2027-07-01', available: 8 }]);

    expect((await push({ body: newer, version: 5 })).status).toBe(200);
    const stale = await push({ body: older, version: 4 });

    expect(stale.status).toBe(409);
    expect(stale.body).toMatchObject({ code: 'stale_version', highestVersion: 5 });
    const view = await control('GET', `/_control/view/${CHANNEL}/${PARK}`);
    expect(view.body.availability[0]).toMatchObject({ available: 5, version: 5 });
    const received = await control('GET', '/_control/received?status=stale');
    expect(received.body.items).toHaveLength(1);
    expect(received.body.items[0]).toMatchObject({ version: 4, httpStatus: 409, reason: 'stale_version' });
  });

  it('keeps versions apart per kind and park', async () => {
    await control('PUT', `/_control/connections/${CHANNEL}/birch-meadow`, { secret: SECRET });
    const availability = availabilityBody([{ unitTypeId: 'pitch', from: '2027-07-01', to: '2027-07-01', available: 5 }]);
    expect((await push({ body: availability, version: 9 })).status).toBe(200);

    const rates = { parkId: PARK, currency: 'EUR', updates: [{ unitTypeId: 'pitch', from: '2027-07-01', to: '2027-07-01', amount: '30.00' }] };
    const otherPark = { ...availability, parkId: 'birch-meadow' };
    expect((await push({ kind: 'rates', body: rates, version: 1 })).status).toBe(200);
    expect((await push({ body: otherPark, version: 1 })).status).toBe(200);
  });
});

describe('simulator modes', () => {
  const body = availabilityBody([{ unitTypeId: 'pitch', from: '2027-07-01', to: '2027-07-01', available: 2 }]);

  it('fails with 503 until count runs out', async () => {
    const set = await control('PUT', `/_control/mode/${CHANNEL}`, { mode: 'fail', count: 2 });
    expect(set.status).toBe(200);
    expect(set.body.mode).toMatchObject({ mode: 'fail', status: 503, remaining: 2 });

    const first = await push({ body, key: 'retry-me' });
    const second = await push({ body, key: 'retry-me' });
    const third = await push({ body, key: 'retry-me' });

    expect(first.status).toBe(503);
    expect(first.body.code).toBe('simulated_failure');
    expect(second.status).toBe(503);
    expect(third.status).toBe(200);
    expect((await control('GET', `/_control/mode/${CHANNEL}`)).body.mode).toEqual({ mode: 'ok' });

    const received = await control('GET', '/_control/received');
    expect(received.body.items.map((entry: { status: string }) => entry.status)).toEqual(['failed', 'failed', 'applied']);
  });

  it('fails with the status and Retry-After given', async () => {
    await control('PUT', `/_control/mode/${CHANNEL}`, { mode: 'fail', status: 500, retryAfterSeconds: 3 });
    const first = await push({ body });
    const second = await push({ body });

    expect(first.status).toBe(500);
    expect(first.headers['retry-after']).toBe('3');
    expect(second.status).toBe(500);
    expect((await control('GET', `/_control/view/${CHANNEL}/${PARK}`)).body.availability).toEqual([]);
  });

  it('returns 429 in rate_limit mode', async () => {
    await control('PUT', `/_control/mode/${CHANNEL}`, { mode: 'rate_limit', retryAfterSeconds: 7, count: 1 });
    const limited = await push({ body });
    const after = await push({ body });

    expect(limited.status).toBe(429);
    expect(limited.headers['retry-after']).toBe('7');
    expect(after.status).toBe(200);
  });

  it('delays pushes in slow mode', async () => {
    await control('PUT', `/_control/mode/${CHANNEL}`, { mode: 'slow', delayMs: 300, count: 1 });
    const started = performance.now();
    const slow = await push({ body });
    const slowMs = performance.now() - started;

    expect(slow.status).toBe(200);
    expect(slowMs).toBeGreaterThanOrEqual(290);
    const received = await control('GET', '/_control/received');
    expect(received.body.items[0]).toMatchObject({ status: 'applied', delayedMs: 300 });
    expect((await control('GET', `/_control/mode/${CHANNEL}`)).body.mode).toEqual({ mode: 'ok' });
  });

  it('closes the socket in down mode', async () => {
    await control('PUT', `/_control/mode/${CHANNEL}`, { mode: 'down', count: 1 });

    await expect(push({ body })).rejects.toMatchObject({ code: 'UND_ERR_SOCKET' });
    expect((await push({ body })).status).toBe(200);
    const received = await control('GET', '/_control/received');
    expect(received.body.items.map((entry: { status: string; httpStatus: number | null }) => [entry.status, entry.httpStatus])).toEqual([
      ['dropped', null],
      ['applied', 200],
    ]);
  });

  it('returns to normal when set to ok', async () => {
    await control('PUT', `/_control/mode/${CHANNEL}`, { mode: 'fail' });
    await control('PUT', `/_control/mode/${CHANNEL}`, { mode: 'ok' });
    expect((await push({ body })).status).toBe(200);
  });

  it('applies a mode to its channel only', async () => {
    await control('PUT', `/_control/connections/pitchup/${PARK}`, { secret: SECRET });
    await control('PUT', `/_control/mode/${CHANNEL}`, { mode: 'fail' });
    expect((await push({ channel: 'pitchup', body })).status).toBe(200);
  });

  it('rejects an unknown mode with 400', async () => {
    const answer = await control('PUT', `/_control/mode/${CHANNEL}`, { mode: 'flaky' });
    expect(answer.status).toBe(400);
    expect(answer.body.detail).toContain('must be one of: ok, fail, slow, rate_limit, down');
  });
});

describe('simulator close', () => {
  it('ends a slow push instead of waiting for it', async () => {
    const own = await startSimulator();
    await request(`${own.url}/_control/mode/${CHANNEL}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ mode: 'slow', delayMs: 60_000 }),
    }).then((response) => response.body.dump());
    const pending = request(`${own.url}/channels/${CHANNEL}/availability`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ parkId: PARK, updates: [] }),
    });
    const settled = pending.then(
      () => 'responded',
      (error: { code?: string }) => error.code,
    );
    await new Promise((resolve) => setTimeout(resolve, 100));

    const started = performance.now();
    await own.close();

    expect(performance.now() - started).toBeLessThan(5_000);
    expect(await settled).toBe('UND_ERR_SOCKET');
  });
});

describe('simulator control API', () => {
  it('resets the view, the log and the secrets', async () => {
    await push({ body: availabilityBody([{ unitTypeId: 'pitch', from: '2027-07-01', to: '2027-07-01', available: 2 }]) });
    await control('POST', '/_control/reset');

    expect((await control('GET', `/_control/view/${CHANNEL}/${PARK}`)).body.availability).toEqual([]);
    expect((await control('GET', '/_control/received')).body.items).toEqual([]);
    const afterReset = await push({ body: availabilityBody([{ unitTypeId: 'pitch', from: '2027-07-01', to: '2027-07-01', available: 2 }]) });
    expect(afterReset.status).toBe(404);
  });

  it('keeps the secrets when asked', async () => {
    await control('POST', '/_control/reset?keepConnections=true');
    const answer = await push({ body: availabilityBody([{ unitTypeId: 'pitch', from: '2027-07-01', to: '2027-07-01', available: 2 }]) });
    expect(answer.status).toBe(200);
  });

  it('returns 200 when replacing a secret', async () => {
    const replaced = await control('PUT', `/_control/connections/${CHANNEL}/${PARK}`, { secret: generateSigningSecret() });
    expect(replaced.status).toBe(200);
    expect(replaced.body).toEqual({ channel: CHANNEL, parkId: PARK, created: false });
  });

  it('rejects a malformed secret with 400', async () => {
    const answer = await control('PUT', `/_control/connections/${CHANNEL}/${PARK}`, { secret: 'not-a-secret' });
    expect(answer.status).toBe(400);
    expect(answer.body.code).toBe('invalid_secret');
    expect(JSON.stringify(answer.body)).not.toContain('not-a-secret');
  });
});

interface CapturedRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  raw: Buffer;
}

describe('sendWebhook', () => {
  let server: Server;
  let parksyncUrl: string;
  const captured: CapturedRequest[] = [];

  beforeAll(async () => {
    // Stands in for parksync's webhook route. It records each request and responds with 202.
    server = createServer((incoming, outgoing) => {
      const chunks: Buffer[] = [];
      incoming.on('data', (chunk: Buffer) => chunks.push(chunk));
      incoming.on('end', () => {
        captured.push({ method: incoming.method ?? '', url: incoming.url ?? '', headers: incoming.headers, raw: Buffer.concat(chunks) });
        outgoing.writeHead(202, { 'content-type': 'application/json' });
        outgoing.end(JSON.stringify({ eventId: 'evt-1', status: 'applied' }));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    parksyncUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
  });

  afterEach(() => {
    captured.length = 0;
  });

  const reservation = {
    parkId: PARK,
    reservationId: 'HC-1001',
    status: 'confirmed',
    unitTypeId: 'lakeside-cabin',
    arrival: '2027-07-01',
    departure: '2027-07-04',
    units: 1,
  };

  it('signs in the parksync form', async () => {
    const answer = await sendWebhook({
      parksyncUrl,
      channel: CHANNEL,
      kind: 'reservations',
      body: reservation,
      secret: SECRET,
      version: 3,
      idempotencyKey: 'HC-1001-v3',
      timestampSeconds: 1_800_000_000,
    });

    expect(answer.status).toBe(202);
    expect(answer.body).toEqual({ eventId: 'evt-1', status: 'applied' });
    expect(captured).toHaveLength(1);
    const [sent] = captured;
    expect(sent?.method).toBe('POST');
    expect(sent?.url).toBe('/webhooks/channel/hipcamp/reservations');
    expect(sent?.headers['content-type']).toBe('application/json');
    expect(sent?.headers['x-version']).toBe('3');
    expect(sent?.headers['idempotency-key']).toBe('HC-1001-v3');
    expect(sent?.headers['x-timestamp']).toBe('1800000000');
    expect(sent?.raw.toString('utf8')).toBe(JSON.stringify(reservation));

    const expected = expectedParksyncDigest(decodeSigningSecret(SECRET), '1800000000', sent?.raw ?? Buffer.alloc(0));
    const candidates = parseParksyncSignatures(String(sent?.headers['x-signature']));
    expect(candidates).toHaveLength(1);
    expect(anyDigestMatches(expected, candidates)).toBe(true);
  });

  it('signs in the Standard Webhooks form', async () => {
    const answer = await sendWebhook({
      parksyncUrl,
      channel: CHANNEL,
      kind: 'availability',
      body: availabilityBody([{ unitTypeId: 'pitch', from: '2027-07-01', to: '2027-07-02', allotment: 4 }]),
      secret: SECRET,
      version: 1,
      signing: 'standard',
    });

    expect(answer.status).toBe(202);
    const [sent] = captured;
    const headers = {
      'webhook-id': String(sent?.headers['webhook-id']),
      'webhook-timestamp': String(sent?.headers['webhook-timestamp']),
      'webhook-signature': String(sent?.headers['webhook-signature']),
    };
    expect(sent?.headers['x-signature']).toBeUndefined();
    expect(headers['webhook-id']).toBe(sent?.headers['idempotency-key']);
    expect(() => new Webhook(SECRET).verify(sent?.raw ?? Buffer.alloc(0), headers)).not.toThrow();

    const expected = expectedStandardDigest(decodeSigningSecret(SECRET), headers['webhook-id'], headers['webhook-timestamp'], sent?.raw ?? Buffer.alloc(0));
    expect(anyDigestMatches(expected, parseStandardSignatures(headers['webhook-signature']))).toBe(true);
  });

  it('rejects a Standard Webhooks signature under another secret', async () => {
    await sendWebhook({ parksyncUrl, channel: CHANNEL, kind: 'rates', body: { parkId: PARK }, secret: SECRET, version: 1, signing: 'standard' });
    const [sent] = captured;
    const headers = {
      'webhook-id': String(sent?.headers['webhook-id']),
      'webhook-timestamp': String(sent?.headers['webhook-timestamp']),
      'webhook-signature': String(sent?.headers['webhook-signature']),
    };
    expect(() => new Webhook(generateSigningSecret()).verify(sent?.raw ?? Buffer.alloc(0), headers)).toThrow();
  });
});
