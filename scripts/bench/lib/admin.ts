import { request } from 'undici';
import { addDays, todayIn } from '../../../src/lib/dates.ts';
import type { Simulator } from '../../../src/channels/simulator/index.ts';

/** Calls parksync's admin API with a bearer token, and sets up the parks the benchmarks use. */

export interface ApiResponse {
  status: number;
  body: unknown;
}

export class AdminApi {
  constructor(
    readonly baseUrl: string,
    private readonly token: string,
  ) {}

  async call(method: 'GET' | 'POST' | 'PUT', path: string, body?: unknown): Promise<ApiResponse> {
    const response = await request(`${this.baseUrl}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${this.token}`,
        accept: 'application/json',
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.body.text();
    let parsed: unknown = text;
    try {
      parsed = text === '' ? null : JSON.parse(text);
    } catch {
      // Not JSON: the text is kept for the error message.
    }
    return { status: response.statusCode, body: parsed };
  }

  /** Like call, but raises an error naming the request unless the status is one of `expected`. */
  async expect(method: 'GET' | 'POST' | 'PUT', path: string, body: unknown, expected: readonly number[]): Promise<unknown> {
    const response = await this.call(method, path, body);
    if (!expected.includes(response.status)) {
      throw new Error(`${method} ${path} returned ${response.status}, expected ${expected.join(' or ')}: ${JSON.stringify(response.body).slice(0, 500)}`);
    }
    return response.body;
  }
}

/** The park timezone every benchmark park uses, so "tomorrow" is the same date for parksync and the bench. */
export const BENCH_TIMEZONE = 'UTC';

/** `count` consecutive nights starting tomorrow in the park's timezone; writes may not start more than a day back. */
export function nightsFromTomorrow(count: number): string[] {
  const first = addDays(todayIn(BENCH_TIMEZONE, new Date()), 1);
  return Array.from({ length: count }, (_, index) => addDays(first, index));
}

export function unitTypeIds(count: number): string[] {
  return Array.from({ length: count }, (_, index) => `unit-${String(index + 1).padStart(2, '0')}`);
}

export interface ConnectionSpec {
  channel: string;
  /** Deliveries go to the simulator at `${simulator.url}/channels/<channel>`; without it the connection gets no deliveries. */
  simulator?: Simulator;
  /** Turns the webhook flag from shadow to on for this connection. */
  webhooksOn?: boolean;
}

/**
 * The inbound limit the benchmarks set on a sending connection, the highest
 * the API accepts, so the load is never answered with 429.
 */
export const UNLIMITED_IN = { perSecond: 10_000, burst: 100_000 };

/** Creates a park with `unitTypes` unit types of 50 units each and the given connections; returns each connection's signing secret. */
export async function createPark(
  api: AdminApi,
  parkId: string,
  unitTypes: number,
  connections: readonly ConnectionSpec[],
): Promise<Record<string, string>> {
  await api.expect('POST', '/parks', { parkId, name: parkId, timezone: BENCH_TIMEZONE, currency: 'EUR' }, [201]);
  for (const unitTypeId of unitTypeIds(unitTypes)) {
    await api.expect('PUT', `/parks/${parkId}/unit-types/${unitTypeId}`, { name: unitTypeId, units: 50 }, [201]);
  }
  const secrets: Record<string, string> = {};
  for (const spec of connections) secrets[spec.channel] = await connect(api, parkId, spec);
  return secrets;
}

/** Creates one connection and, when it has an endpoint, registers its secret with the simulator so deliveries verify. */
export async function connect(api: AdminApi, parkId: string, spec: ConnectionSpec): Promise<string> {
  const settings = {
    rateLimitIn: UNLIMITED_IN,
    ...(spec.simulator ? { endpointUrl: `${spec.simulator.url}/channels/${spec.channel}` } : {}),
  };
  const created = (await api.expect('PUT', `/parks/${parkId}/channels/${spec.channel}`, settings, [201])) as { secret: string };
  if (spec.simulator) spec.simulator.state.registerConnection(spec.channel, parkId, created.secret);
  if (spec.webhooksOn) {
    await api.expect('PUT', '/flags/channel_sync_webhooks', { value: 'on', channel: spec.channel, parkId, note: 'benchmark' }, [200]);
  }
  return created.secret;
}
