import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, startHarness, type Harness } from './helpers/harness.ts';

let harness: Harness;

beforeAll(async () => {
  harness = await startHarness();
});

afterAll(async () => {
  await harness.close();
});

describe('HTTP edges', () => {
  it('answers 415 for a text/plain body on an admin route', async () => {
    const response = await harness.app.inject({
      method: 'POST',
      url: '/parks',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'text/plain' },
      payload: 'parkId=x',
    });
    expect(response.statusCode).toBe(415);
    expect(response.json().code).toBe('unsupported_media_type');
  });

  it('answers a malformed URL with problem+json and a request id', async () => {
    const response = await harness.app.inject({ method: 'GET', url: '/parks/%E0%A4%A' });
    expect(response.statusCode).toBe(400);
    expect(response.headers['content-type']).toContain('application/problem+json');
    expect(response.json().code).toBe('invalid_request');
    expect(response.headers['x-request-id']).toBe(response.json().requestId);
  });

  it('answers an unknown route with 404 problem+json', async () => {
    const response = await harness.call('GET', '/nowhere');
    expect(response.statusCode).toBe(404);
    expect(response.json().code).toBe('not_found');
  });

  it('echoes a well-formed X-Request-Id and replaces a hostile one', async () => {
    const kept = await harness.app.inject({ method: 'GET', url: '/healthz', headers: { 'x-request-id': 'abc-123' } });
    expect(kept.headers['x-request-id']).toBe('abc-123');
    const replaced = await harness.app.inject({ method: 'GET', url: '/healthz', headers: { 'x-request-id': 'a b\u00e9' } });
    expect(replaced.headers['x-request-id']).not.toBe('a b\u00e9');
  });
});

describe('requests without a body', () => {
  it('names the missing fields of a POST sent with no body', async () => {
    const response = await harness.call('POST', '/parks');
    expect(response.statusCode).toBe(422);
    const fields = response.json().errors.map((error: { field: string }) => error.field);
    expect(fields).toEqual(expect.arrayContaining(['parkId', 'name', 'timezone', 'currency']));
  });

  it('accepts a bodiless POST whose fields are all optional', async () => {
    await harness.call('POST', '/parks', { parkId: 'quiet-park', name: 'Quiet', timezone: 'UTC', currency: 'EUR' });
    await harness.call('PUT', '/parks/quiet-park/channels/hipcamp', {});
    const rotated = await harness.call('POST', '/parks/quiet-park/channels/hipcamp/rotate-secret');
    expect(rotated.statusCode).toBe(200);
    expect(rotated.json().secret).toMatch(/^whsec_/);
  });
});
