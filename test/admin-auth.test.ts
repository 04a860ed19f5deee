import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashToken } from '../src/auth/tokens.ts';
import { ADMIN_TOKEN, seedPark, startHarness, type Harness } from './helpers/harness.ts';
import { expectProblem } from './helpers/problem.ts';

let harness: Harness;

beforeAll(async () => {
  harness = await startHarness();
  await seedPark(harness, 'park-a', { cabin: 5 });
  await seedPark(harness, 'park-b', { cabin: 5 });
});

afterAll(async () => {
  await harness.close();
});

async function createToken(body: Record<string, unknown>): Promise<{ tokenId: string; token: string }> {
  const response = await harness.call('POST', '/tokens', body);
  if (response.statusCode !== 201) throw new Error(`createToken: ${response.statusCode} ${response.body}`);
  return response.json();
}

async function unitsOf(parkId: string, unitTypeId: string): Promise<number | undefined> {
  const park = (await harness.call('GET', `/parks/${parkId}`)).json<{ unitTypes: Array<{ unitTypeId: string; units: number }> }>();
  return park.unitTypes.find((unitType) => unitType.unitTypeId === unitTypeId)?.units;
}

function injectWithHeader(authorization: string) {
  return harness.app.inject({ method: 'GET', url: '/parks/park-a', headers: { authorization } });
}

describe('bearer token', () => {
  it('rejects a request without a token', async () => {
    const response = await harness.call('GET', '/parks/park-a', undefined, null);
    expectProblem(response, 401, 'unauthorized');
    expect(response.headers['www-authenticate']).toContain('Bearer');
  });

  it('rejects an unknown token', async () => {
    const response = await harness.call('GET', '/parks/park-a', undefined, 'pst_not-a-real-token');
    expectProblem(response, 401, 'unauthorized');
    expect(response.headers['www-authenticate']).toContain('invalid_token');
  });

  const malformed: Array<{ label: string; header: string }> = [
    { label: 'Basic scheme', header: `Basic ${Buffer.from('admin:secret').toString('base64')}` },
    { label: 'scheme without token', header: 'Bearer' },
    { label: 'token with a space', header: `Bearer ${ADMIN_TOKEN} extra` },
    { label: 'token alone', header: ADMIN_TOKEN },
  ];

  it.each(malformed)('rejects a malformed header: $label', async ({ header }) => {
    const response = await injectWithHeader(header);
    expectProblem(response, 401, 'unauthorized');
    expect(response.headers['www-authenticate']).toContain('invalid_request');
  });

  it('accepts the scheme in any case', async () => {
    expect((await injectWithHeader(`bearer ${ADMIN_TOKEN}`)).statusCode).toBe(200);
  });

  it('rejects a revoked token', async () => {
    const { tokenId, token } = await createToken({ scopes: ['read'] });
    expect((await harness.call('GET', '/parks/park-a', undefined, token)).statusCode).toBe(200);

    const revoked = await harness.call('DELETE', `/tokens/${tokenId}`);
    expect(revoked.statusCode).toBe(200);
    expect(revoked.json()).toEqual({ tokenId, revoked: true });

    expectProblem(await harness.call('GET', '/parks/park-a', undefined, token), 401, 'unauthorized');
  });

  it('answers 404 when revoking an unknown token', async () => {
    expectProblem(await harness.call('DELETE', '/tokens/tok_0000000000000000'), 404, 'token_not_found');
  });

  it('stores only the token hash', async () => {
    const { tokenId, token } = await createToken({ scopes: ['read'], label: 'hash check' });
    const row = await harness.ctx.db.selectFrom('api_tokens').selectAll().where('token_id', '=', tokenId).executeTakeFirstOrThrow();
    expect(row.token_hash).toBe(hashToken(token));
    expect(JSON.stringify(row)).not.toContain(token);
  });

  it('keeps the token out of the audit log', async () => {
    const { token } = await createToken({ scopes: ['ops'], label: 'audit check' });
    const audit = await harness.call('GET', '/audit?action=token.create');
    expect(audit.body).not.toContain(token);
  });
});

describe('scopes', () => {
  it('forbids a read token an admin action', async () => {
    const { token } = await createToken({ scopes: ['read'] });
    const response = await harness.call('PUT', '/parks/park-a/unit-types/cabin', { name: 'cabin', units: 9 }, token);
    expectProblem(response, 403, 'forbidden');
    expect(await unitsOf('park-a', 'cabin')).toBe(5);
  });

  it('forbids a read token an ops action', async () => {
    const { token } = await createToken({ scopes: ['read'] });
    const body = { updates: [{ unitTypeId: 'cabin', from: '2026-12-10', to: '2026-12-10', allotment: 2 }] };
    expectProblem(await harness.call('POST', '/parks/park-a/availability', body, token), 403, 'forbidden');
  });

  it('forbids an ops token to create a park', async () => {
    const { token } = await createToken({ scopes: ['ops'] });
    const response = await harness.call('POST', '/parks', { parkId: 'ops-park', name: 'Ops', timezone: 'UTC', currency: 'EUR' }, token);
    expectProblem(response, 403, 'forbidden');
    expectProblem(await harness.call('GET', '/parks/ops-park'), 404, 'park_not_found');
  });

  it('lets an ops token set availability', async () => {
    const { token } = await createToken({ scopes: ['ops'] });
    const body = { updates: [{ unitTypeId: 'cabin', from: '2026-12-10', to: '2026-12-10', allotment: 2 }] };
    expect((await harness.call('POST', '/parks/park-a/availability', body, token)).statusCode).toBe(200);
  });

  it('forbids a channel token the operator routes', async () => {
    const { token } = await createToken({ scopes: ['read'], channel: 'hipcamp' });
    expectProblem(await harness.call('GET', '/parks/park-a', undefined, token), 403, 'forbidden');
  });
});

describe('park-limited token', () => {
  it('acts on its own park', async () => {
    const { token } = await createToken({ scopes: ['admin'], parkIds: ['park-a'] });
    const response = await harness.call('PUT', '/parks/park-a/unit-types/pitch', { name: 'Pitch', units: 10 }, token);
    expect(response.statusCode).toBe(201);
  });

  it('is forbidden on another park', async () => {
    const { token } = await createToken({ scopes: ['admin'], parkIds: ['park-a'] });
    const response = await harness.call('PUT', '/parks/park-b/unit-types/cabin', { name: 'cabin', units: 9 }, token);
    expectProblem(response, 403, 'forbidden_park');
    expect(await unitsOf('park-b', 'cabin')).toBe(5);
  });

  it('cannot read another park', async () => {
    const { token } = await createToken({ scopes: ['read'], parkIds: ['park-a'] });
    expectProblem(await harness.call('GET', '/parks/park-b', undefined, token), 403, 'forbidden_park');
  });

  it('lists only its own parks', async () => {
    const { token } = await createToken({ scopes: ['read'], parkIds: ['park-a'] });
    const list = await harness.call('GET', '/parks', undefined, token);
    expect(list.json().items.map((item: { parkId: string }) => item.parkId)).toEqual(['park-a']);
  });

  it('cannot create a park', async () => {
    const { token } = await createToken({ scopes: ['admin'], parkIds: ['park-a'] });
    const response = await harness.call('POST', '/parks', { parkId: 'park-c', name: 'C', timezone: 'UTC', currency: 'EUR' }, token);
    expectProblem(response, 403, 'forbidden_park');
    expectProblem(await harness.call('GET', '/parks/park-c'), 404, 'park_not_found');
  });

  it('cannot set a flag for another park', async () => {
    const { token } = await createToken({ scopes: ['admin'], parkIds: ['park-a'] });
    const response = await harness.call('PUT', '/flags/public_publish', { value: 'on', parkId: 'park-b' }, token);
    expectProblem(response, 403, 'forbidden_park');
    const evaluated = await harness.call('GET', '/flags/public_publish/evaluate?parkId=park-b');
    expect(evaluated.json().value).toBe('off');
  });

  it('cannot evaluate a flag for another park', async () => {
    const { token } = await createToken({ scopes: ['read'], parkIds: ['park-a'] });
    const response = await harness.call('GET', '/flags/public_publish/evaluate?parkId=park-b', undefined, token);
    expectProblem(response, 403, 'forbidden_park');
  });

  it('evaluates a flag for its own park', async () => {
    const { token } = await createToken({ scopes: ['read'], parkIds: ['park-a'] });
    const response = await harness.call('GET', '/flags/public_publish/evaluate?parkId=park-a', undefined, token);
    expect(response.statusCode).toBe(200);
  });

  it('cannot read the audit log of another park', async () => {
    const { token } = await createToken({ scopes: ['read'], parkIds: ['park-a'] });
    expectProblem(await harness.call('GET', '/audit?parkId=park-b', undefined, token), 403, 'forbidden_park');
  });

  it('cannot create a token for another park', async () => {
    const { token } = await createToken({ scopes: ['admin'], parkIds: ['park-a'] });
    const response = await harness.call('POST', '/tokens', { scopes: ['read'], parkIds: ['park-b'] }, token);
    expectProblem(response, 403, 'forbidden_park');
  });

  it('cannot revoke an unrestricted token', async () => {
    const { token } = await createToken({ scopes: ['admin'], parkIds: ['park-a'] });
    const victim = await createToken({ scopes: ['read'] });
    expectProblem(await harness.call('DELETE', `/tokens/${victim.tokenId}`, undefined, token), 404, 'token_not_found');
    expect((await harness.call('GET', '/parks/park-a', undefined, victim.token)).statusCode).toBe(200);
  });
});

describe('POST /tokens', () => {
  const invalid: Array<{ label: string; body: Record<string, unknown>; field: string }> = [
    { label: 'unknown scope', body: { scopes: ['root'] }, field: 'scopes[0]' },
    { label: 'no scopes', body: { scopes: [] }, field: 'scopes' },
    { label: 'missing scopes', body: {}, field: 'scopes' },
    { label: 'unknown park', body: { scopes: ['read'], parkIds: ['no-such-park'] }, field: 'parkIds' },
    { label: 'malformed park id', body: { scopes: ['read'], parkIds: ['Park A'] }, field: 'parkIds[0]' },
    { label: 'channel token with ops scope', body: { scopes: ['ops'], channel: 'hipcamp' }, field: 'scopes' },
    { label: 'unknown field', body: { scopes: ['read'], expires: '2027-01-01' }, field: 'expires' },
  ];

  it.each(invalid)('rejects $label', async ({ body, field }) => {
    const before = await harness.ctx.db.selectFrom('api_tokens').select('token_id').execute();
    expectProblem(await harness.call('POST', '/tokens', body), 422, 'validation_failed', field);
    const after = await harness.ctx.db.selectFrom('api_tokens').select('token_id').execute();
    expect(after.length).toBe(before.length);
  });
});
