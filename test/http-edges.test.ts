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
