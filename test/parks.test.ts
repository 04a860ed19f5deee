import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from './helpers/harness.ts';

let harness: Harness;

beforeAll(async () => {
  harness = await startHarness();
});

afterAll(async () => {
  await harness.close();
});

describe('POST /parks', () => {
  it('creates a park and reads it back', async () => {
    const created = await harness.call('POST', '/parks', {
      parkId: 'pine-grove',
      name: 'Pine Grove',
      timezone: 'Europe/Berlin',
      currency: 'EUR',
    });
    expect(created.statusCode).toBe(201);
    const read = await harness.call('GET', '/parks/pine-grove');
    expect(read.statusCode).toBe(200);
    expect(read.json()).toMatchObject({ parkId: 'pine-grove', timezone: 'Europe/Berlin', currency: 'EUR', unitTypes: [] });
  });

  it('rejects a duplicate park id and keeps the first', async () => {
    await harness.call('POST', '/parks', { parkId: 'twin', name: 'First', timezone: 'UTC', currency: 'EUR' });
    const second = await harness.call('POST', '/parks', { parkId: 'twin', name: 'Second', timezone: 'UTC', currency: 'USD' });
    expect(second.statusCode).toBe(409);
    expect(second.headers['content-type']).toContain('application/problem+json');
    expect(second.json().code).toBe('park_exists');
    expect((await harness.call('GET', '/parks/twin')).json().name).toBe('First');
  });
});
