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

const validPark = { parkId: 'new-park', name: 'New Park', timezone: 'Europe/Amsterdam', currency: 'EUR' };

async function parkIds(): Promise<string[]> {
  const response = await harness.call('GET', '/parks');
  return response.json<{ items: Array<{ parkId: string }> }>().items.map((item) => item.parkId);
}

async function auditCount(action: string): Promise<number> {
  const response = await harness.call('GET', `/audit?action=${action}&limit=1000`);
  return response.json<{ items: unknown[] }>().items.length;
}

describe('POST /parks', () => {
  const invalid: Array<{ label: string; body: Record<string, unknown>; field: string }> = [
    { label: 'unknown timezone', body: { ...validPark, timezone: 'Mars/Olympus_Mons' }, field: 'timezone' },
    { label: 'offset as timezone', body: { ...validPark, timezone: '+01:00' }, field: 'timezone' },
    { label: 'unknown currency EUX', body: { ...validPark, currency: 'EUX' }, field: 'currency' },
    { label: 'no-currency code XXX', body: { ...validPark, currency: 'XXX' }, field: 'currency' },
    { label: 'lowercase currency', body: { ...validPark, currency: 'eur' }, field: 'currency' },
    { label: 'uppercase slug', body: { ...validPark, parkId: 'New-Park' }, field: 'parkId' },
    { label: 'one-character slug', body: { ...validPark, parkId: 'n' }, field: 'parkId' },
    { label: '65-character slug', body: { ...validPark, parkId: 'p'.repeat(65) }, field: 'parkId' },
    { label: 'slug with spaces', body: { ...validPark, parkId: 'new park' }, field: 'parkId' },
    { label: 'unknown field', body: { ...validPark, country: 'NL' }, field: 'country' },
    { label: 'missing name', body: { parkId: 'new-park', timezone: 'UTC', currency: 'EUR' }, field: 'name' },
    { label: 'missing currency', body: { parkId: 'new-park', name: 'New Park', timezone: 'UTC' }, field: 'currency' },
    { label: 'blank name', body: { ...validPark, name: '   ' }, field: 'name' },
    { label: 'name as a number', body: { ...validPark, name: 42 }, field: 'name' },
  ];

  it.each(invalid)('rejects $label', async ({ body, field }) => {
    const before = await parkIds();
    const response = await harness.call('POST', '/parks', body);
    expectProblem(response, 422, 'validation_failed', field);
    expect(await parkIds()).toEqual(before);
  });

  it('accepts the longest slug', async () => {
    const parkId = 'l'.repeat(64);
    const response = await harness.call('POST', '/parks', { ...validPark, parkId });
    expect(response.statusCode).toBe(201);
    expect((await harness.call('GET', `/parks/${parkId}`)).statusCode).toBe(200);
  });

  it('rejects a duplicate park id', async () => {
    const createdBefore = await auditCount('park.create');
    const response = await harness.call('POST', '/parks', { ...validPark, parkId: 'dune-camp', name: 'Other', currency: 'USD' });
    expectProblem(response, 409, 'park_exists', 'parkId');
    const stored = (await harness.call('GET', '/parks/dune-camp')).json();
    expect(stored.name).toBe('Dune Camp');
    expect(stored.currency).toBe('EUR');
    expect(await auditCount('park.create')).toBe(createdBefore);
  });

  it('rejects a body that is not JSON', async () => {
    const response = await harness.app.inject({
      method: 'POST',
      url: '/parks',
      headers: { authorization: `Bearer ${harness.ctx.config.adminToken}`, 'content-type': 'application/json' },
      payload: '{"parkId": ',
    });
    expectProblem(response, 400, 'invalid_json');
  });
});

describe('GET /parks/{parkId}', () => {
  it('answers 404 for an unknown park', async () => {
    expectProblem(await harness.call('GET', '/parks/no-such-park'), 404, 'park_not_found');
  });

  it('rejects a malformed park id', async () => {
    expectProblem(await harness.call('GET', '/parks/Dune-Camp'), 422, 'validation_failed', 'params:parkId');
  });
});

describe('PUT /parks/{parkId}/unit-types/{unitTypeId}', () => {
  it('answers 201 then 200 and audits both', async () => {
    const created = await harness.call('PUT', '/parks/dune-camp/unit-types/tent', { name: 'Tent', units: 4 });
    expect(created.statusCode).toBe(201);
    expect(created.json()).toMatchObject({ parkId: 'dune-camp', unitTypeId: 'tent', name: 'Tent', units: 4 });

    const replaced = await harness.call('PUT', '/parks/dune-camp/unit-types/tent', { name: 'Bell tent', units: 6 });
    expect(replaced.statusCode).toBe(200);
    expect(replaced.json()).toMatchObject({ unitTypeId: 'tent', name: 'Bell tent', units: 6 });

    const audit = (await harness.call('GET', '/audit?parkId=dune-camp')).json<{ items: Array<Record<string, unknown>> }>();
    const entries = audit.items.filter((item) => (item.details as { unitTypeId?: string } | null)?.unitTypeId === 'tent');
    expect(entries.map((entry) => entry.action)).toEqual(['unit_type.update', 'unit_type.create']);
    expect(entries[0]?.details).toEqual({ unitTypeId: 'tent', name: 'Bell tent', units: 6, previous: { name: 'Tent', units: 4 } });
    expect(entries[0]?.requestId).toBe(replaced.headers['x-request-id']);
    expect(entries[1]?.requestId).toBe(created.headers['x-request-id']);
  });

  const invalidBodies: Array<{ label: string; body: Record<string, unknown>; field: string }> = [
    { label: 'units as a string', body: { name: 'Cabin', units: '5' }, field: 'units' },
    { label: 'fractional units', body: { name: 'Cabin', units: 2.5 }, field: 'units' },
    { label: 'negative units', body: { name: 'Cabin', units: -1 }, field: 'units' },
    { label: 'missing units', body: { name: 'Cabin' }, field: 'units' },
    { label: 'missing name', body: { units: 3 }, field: 'name' },
    { label: 'blank name', body: { name: ' ', units: 3 }, field: 'name' },
    { label: 'unknown field', body: { name: 'Cabin', units: 3, beds: 2 }, field: 'beds' },
  ];

  it.each(invalidBodies)('rejects $label', async ({ body, field }) => {
    const response = await harness.call('PUT', '/parks/dune-camp/unit-types/cabin', body);
    expectProblem(response, 422, 'validation_failed', field);
    const park = (await harness.call('GET', '/parks/dune-camp')).json();
    expect(park.unitTypes).toContainEqual({ unitTypeId: 'cabin', name: 'cabin', units: 5 });
  });

  const invalidIds: Array<{ label: string; unitTypeId: string }> = [
    { label: 'uppercase', unitTypeId: 'Cabin' },
    { label: 'too short', unitTypeId: 'c' },
    { label: '65 characters', unitTypeId: 'c'.repeat(65) },
    { label: 'with spaces', unitTypeId: 'log%20cabin' },
  ];

  it.each(invalidIds)('rejects a unit type id $label', async ({ unitTypeId }) => {
    const before = (await harness.call('GET', '/parks/dune-camp')).json().unitTypes;
    const response = await harness.call('PUT', `/parks/dune-camp/unit-types/${unitTypeId}`, { name: 'Cabin', units: 3 });
    expectProblem(response, 422, 'validation_failed', 'params:unitTypeId');
    expect((await harness.call('GET', '/parks/dune-camp')).json().unitTypes).toEqual(before);
  });

  it.runIf(testDatabaseKind() === 'postgres')('creates a unit type once under concurrent puts', async () => {
    const responses = await Promise.all(
      [3, 4, 5].map((units) => harness.call('PUT', '/parks/dune-camp/unit-types/lodge', { name: 'Lodge', units })),
    );
    expect(responses.map((response) => response.statusCode).sort()).toEqual([200, 200, 201]);
    const audit = (await harness.call('GET', '/audit?parkId=dune-camp&action=unit_type.create')).json<{
      items: Array<{ details: { unitTypeId: string } }>;
    }>();
    expect(audit.items.filter((item) => item.details.unitTypeId === 'lodge')).toHaveLength(1);
  });

  it('answers 404 for an unknown park', async () => {
    const response = await harness.call('PUT', '/parks/no-such-park/unit-types/cabin', { name: 'Cabin', units: 3 });
    expectProblem(response, 404, 'park_not_found');
  });
});

describe('GET /audit', () => {
  const invalid: Array<{ label: string; query: string; field: string }> = [
    { label: 'a limit of zero', query: 'limit=0', field: 'query:limit' },
    { label: 'a limit over 1000', query: 'limit=1001', field: 'query:limit' },
    { label: 'a limit that is not a number', query: 'limit=ten', field: 'query:limit' },
    { label: 'a fractional cursor', query: 'before=2.5', field: 'query:before' },
    { label: 'a malformed park id', query: 'parkId=Dune%20Camp', field: 'query:parkId' },
    { label: 'an unknown parameter', query: 'actor=tok_bootstrap', field: 'query:actor' },
  ];

  it.each(invalid)('rejects $label', async ({ query, field }) => {
    expectProblem(await harness.call('GET', `/audit?${query}`), 422, 'validation_failed', field);
  });

  it('pages back with the cursor', async () => {
    const first = (await harness.call('GET', '/audit?parkId=dune-camp&limit=1')).json();
    expect(first.items).toHaveLength(1);
    expect(first.nextCursor).toBe(String(first.items[0].auditId));
    const second = (await harness.call('GET', `/audit?parkId=dune-camp&limit=1&before=${first.nextCursor}`)).json();
    expect(second.items).toHaveLength(1);
    expect(second.items[0].auditId).toBeLessThan(first.items[0].auditId);
  });
});
