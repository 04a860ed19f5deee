import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedPark, startHarness, type Harness } from './helpers/harness.ts';
import { testDatabaseKind } from './helpers/database.ts';
import { expectProblem } from './helpers/problem.ts';

let harness: Harness;

beforeAll(async () => {
  harness = await startHarness();
  await seedPark(harness, 'dune-camp', { cabin: 5 });
});

afterAll(async () => {
  await harness.close();
});

const SECRET_PATTERN = /^whsec_[A-Za-z0-9+/]+={0,2}$/;

async function createConnection(channel: string, body: Record<string, unknown> = {}): Promise<string> {
  const response = await harness.call('PUT', `/parks/dune-camp/channels/${channel}`, body);
  if (response.statusCode !== 201) throw new Error(`createConnection: ${response.statusCode} ${response.body}`);
  return response.json<{ secret: string }>().secret;
}

async function storedSecrets(channel: string): Promise<{ current: string; previous: string | null }> {
  const row = await harness.ctx.db
    .selectFrom('connections')
    .select(['secret_current', 'secret_previous'])
    .where('park_id', '=', 'dune-camp')
    .where('channel', '=', channel)
    .executeTakeFirstOrThrow();
  return { current: row.secret_current, previous: row.secret_previous };
}

describe('PUT /parks/{parkId}/channels/{channel}', () => {
  it('creates a connection with a secret shown once', async () => {
    const created = await harness.call('PUT', '/parks/dune-camp/channels/booking', {
      endpointUrl: 'https://channel.example/parksync',
      rateLimitIn: { perSecond: 5, burst: 10 },
    });
    expect(created.statusCode).toBe(201);
    expect(created.headers['cache-control']).toBe('no-store');
    const body = created.json();
    expect(body.secret).toMatch(SECRET_PATTERN);
    expect(Buffer.from(body.secret.slice('whsec_'.length), 'base64')).toHaveLength(32);
    expect(body).toMatchObject({
      parkId: 'dune-camp',
      channel: 'booking',
      enabled: true,
      paused: false,
      endpointUrl: 'https://channel.example/parksync',
      adapter: 'generic-json',
      rateLimitIn: { perSecond: 5, burst: 10 },
      maxAttempts: 8,
    });
    expect((await storedSecrets('booking')).current).toBe(body.secret);
  });

  it('answers 200 without a secret on update', async () => {
    const secret = await createConnection('airbnb');
    const updated = await harness.call('PUT', '/parks/dune-camp/channels/airbnb', { maxAttempts: 5 });
    expect(updated.statusCode).toBe(200);
    expect(updated.json()).not.toHaveProperty('secret');
    expect(updated.body).not.toContain(secret);
    expect(updated.json().maxAttempts).toBe(5);
    expect((await storedSecrets('airbnb')).current).toBe(secret);
  });

  it('keeps settings left out of an update', async () => {
    await createConnection('pitchup', { endpointUrl: 'https://pitchup.example/in', rateLimitOut: { perSecond: 3, burst: 6 } });
    const updated = await harness.call('PUT', '/parks/dune-camp/channels/pitchup', { maxAttempts: 3 });
    expect(updated.json()).toMatchObject({
      endpointUrl: 'https://pitchup.example/in',
      rateLimitOut: { perSecond: 3, burst: 6 },
      maxAttempts: 3,
    });
  });

  it('never shows a secret on read', async () => {
    const secret = await createConnection('hipcamp');
    const connection = await harness.call('GET', '/parks/dune-camp/channels/hipcamp');
    expect(connection.statusCode).toBe(200);
    expect(connection.json()).not.toHaveProperty('secret');
    expect(connection.body).not.toContain(secret);
    expect(connection.body).not.toContain('whsec_');
    const park = await harness.call('GET', '/parks/dune-camp');
    expect(park.body).not.toContain('whsec_');
  });

  it('keeps the secret out of the audit log', async () => {
    const secret = await createConnection('glamping-hub');
    const audit = await harness.call('GET', '/audit?parkId=dune-camp&channel=glamping-hub');
    expect(audit.json().items.map((item: { action: string }) => item.action)).toEqual(['connection.create']);
    expect(audit.body).not.toContain(secret);
    expect(audit.body).not.toContain('whsec_');
  });

  it('starts a new connection in shadow', async () => {
    await harness.call('PUT', '/flags/channel_sync_webhooks', { value: 'on' });
    await harness.call('PUT', '/flags/channel_sync_webhooks', { value: 'off', channel: 'campspace' });
    await createConnection('campspace');
    const evaluated = await harness.call('GET', '/flags/channel_sync_webhooks/evaluate?channel=campspace&parkId=dune-camp');
    expect(evaluated.statusCode).toBe(200);
    expect(evaluated.json().value).toBe('shadow');
  });

  it('keeps the connection flag on update', async () => {
    await createConnection('vrbo');
    await harness.call('PUT', '/flags/channel_sync_webhooks', { value: 'on', channel: 'vrbo', parkId: 'dune-camp' });
    await harness.call('PUT', '/parks/dune-camp/channels/vrbo', { maxAttempts: 4 });
    const evaluated = await harness.call('GET', '/flags/channel_sync_webhooks/evaluate?channel=vrbo&parkId=dune-camp');
    expect(evaluated.json().value).toBe('on');
  });

  const invalid: Array<{ label: string; body: Record<string, unknown>; field: string }> = [
    { label: 'ftp endpoint', body: { endpointUrl: 'ftp://channel.example/in' }, field: 'endpointUrl' },
    { label: 'relative endpoint', body: { endpointUrl: '/webhooks/in' }, field: 'endpointUrl' },
    { label: 'endpoint with credentials', body: { endpointUrl: 'https://user:pass@channel.example/in' }, field: 'endpointUrl' },
    { label: 'endpoint with a user name', body: { endpointUrl: 'https://user@channel.example/in' }, field: 'endpointUrl' },
    { label: 'inbound burst below perSecond', body: { rateLimitIn: { perSecond: 10, burst: 5 } }, field: 'rateLimitIn.burst' },
    { label: 'outbound burst below perSecond', body: { rateLimitOut: { perSecond: 10, burst: 9 } }, field: 'rateLimitOut.burst' },
    { label: 'perSecond of zero', body: { rateLimitIn: { perSecond: 0, burst: 5 } }, field: 'rateLimitIn.perSecond' },
    { label: 'rate limit without burst', body: { rateLimitIn: { perSecond: 5 } }, field: 'rateLimitIn.burst' },
    { label: 'unknown adapter', body: { adapter: 'soap-xml' }, field: 'adapter' },
    { label: 'maxAttempts as a string', body: { maxAttempts: '8' }, field: 'maxAttempts' },
    { label: 'fractional maxAttempts', body: { maxAttempts: 2.5 }, field: 'maxAttempts' },
    { label: 'maxAttempts of zero', body: { maxAttempts: 0 }, field: 'maxAttempts' },
    { label: 'unknown field', body: { secret: 'whsec_AAAA' }, field: 'secret' },
  ];

  it.each(invalid)('rejects $label on create', async ({ body, field }) => {
    const response = await harness.call('PUT', '/parks/dune-camp/channels/rejected', body);
    expectProblem(response, 422, 'validation_failed', field);
    expectProblem(await harness.call('GET', '/parks/dune-camp/channels/rejected'), 404, 'connection_not_found');
  });

  it.each(invalid)('rejects $label on update', async ({ body, field }) => {
    const before = await harness.call('GET', '/parks/dune-camp/channels/booking');
    const response = await harness.call('PUT', '/parks/dune-camp/channels/booking', body);
    expectProblem(response, 422, 'validation_failed', field);
    expect((await harness.call('GET', '/parks/dune-camp/channels/booking')).json()).toEqual(before.json());
  });

  it('leaves no shadow flag after a rejected create', async () => {
    await harness.call('PUT', '/parks/dune-camp/channels/never-made', { adapter: 'soap-xml' });
    const settings = await harness.ctx.db.selectFrom('flag_settings').selectAll().where('channel', '=', 'never-made').execute();
    expect(settings).toEqual([]);
  });

  it('rejects the channel of direct reservations', async () => {
    const response = await harness.call('PUT', '/parks/dune-camp/channels/direct', {});
    expectProblem(response, 422, 'validation_failed', 'params:channel');
    expectProblem(await harness.call('GET', '/parks/dune-camp/channels/direct'), 404, 'connection_not_found');
  });

  it('rejects a malformed channel', async () => {
    const response = await harness.call('PUT', '/parks/dune-camp/channels/Booking.com', {});
    expectProblem(response, 422, 'validation_failed', 'params:channel');
  });

  it('answers 404 for an unknown park', async () => {
    expectProblem(await harness.call('PUT', '/parks/no-such-park/channels/booking', {}), 404, 'park_not_found');
  });
});

describe('POST /parks/{parkId}/channels/{channel}/rotate-secret', () => {
  it('returns a new secret and the grace deadline', async () => {
    const first = await createConnection('rotating');
    const rotated = await harness.call('POST', '/parks/dune-camp/channels/rotating/rotate-secret', { graceSeconds: 3600 });
    expect(rotated.statusCode).toBe(200);
    expect(rotated.headers['cache-control']).toBe('no-store');
    const body = rotated.json();
    expect(body.secret).toMatch(SECRET_PATTERN);
    expect(body.secret).not.toBe(first);
    expect(body.previousSecretValidUntil).toBe('2026-12-04T13:00:00.000Z');
    expect(await storedSecrets('rotating')).toEqual({ current: body.secret, previous: first });
  });

  it('gives the previous secret a day by default', async () => {
    await createConnection('rotating-default');
    const rotated = await harness.call('POST', '/parks/dune-camp/channels/rotating-default/rotate-secret', {});
    expect(rotated.json().previousSecretValidUntil).toBe('2026-12-05T12:00:00.000Z');
    const connection = await harness.call('GET', '/parks/dune-camp/channels/rotating-default');
    expect(connection.json().previousSecretValidUntil).toBe('2026-12-05T12:00:00.000Z');
    expect(connection.body).not.toContain('whsec_');
  });

  it('audits the rotation without the secret', async () => {
    await createConnection('rotating-audit');
    const rotated = await harness.call('POST', '/parks/dune-camp/channels/rotating-audit/rotate-secret', { note: 'scheduled' });
    const audit = await harness.call('GET', '/audit?parkId=dune-camp&channel=rotating-audit&action=connection.rotate_secret');
    expect(audit.json().items).toHaveLength(1);
    expect(audit.json().items[0].note).toBe('scheduled');
    expect(audit.body).not.toContain(rotated.json().secret);
  });

  it('rejects a negative grace', async () => {
    await createConnection('rotating-invalid');
    const before = await storedSecrets('rotating-invalid');
    const response = await harness.call('POST', '/parks/dune-camp/channels/rotating-invalid/rotate-secret', { graceSeconds: -1 });
    expectProblem(response, 422, 'validation_failed', 'graceSeconds');
    expect(await storedSecrets('rotating-invalid')).toEqual(before);
  });

  it('answers 404 for an unknown connection', async () => {
    const response = await harness.call('POST', '/parks/dune-camp/channels/no-such-channel/rotate-secret', {});
    expectProblem(response, 404, 'connection_not_found');
  });

  it.runIf(testDatabaseKind() === 'postgres')('keeps both secrets of concurrent rotations', async () => {
    await createConnection('rotating-race');
    const responses = await Promise.all(
      [1, 2].map(() => harness.call('POST', '/parks/dune-camp/channels/rotating-race/rotate-secret', {})),
    );
    const handedOut = responses.map((response) => response.json<{ secret: string }>().secret);
    const stored = await storedSecrets('rotating-race');
    expect([stored.current, stored.previous].sort()).toEqual([...handedOut].sort());
  });
});
