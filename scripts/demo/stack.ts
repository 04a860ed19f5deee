import { randomBytes } from 'node:crypto';
import { request } from 'undici';
import { startSimulator, type Simulator } from '../../src/channels/simulator/index.ts';
import { loadConfig } from '../../src/config.ts';
import { startService, type RunningService } from '../../src/service.ts';

/** The processes the demo runs: parksync (API and worker in one process) and the channel simulator. */
export interface DemoStack {
  service: RunningService;
  parksyncUrl: string;
  simulator: Simulator;
  api: AdminApi;
  stop(): Promise<void>;
}

export interface ApiResponse {
  status: number;
  body: unknown;
}

/** Calls parksync's admin API with the run's admin token. */
export interface AdminApi {
  call(method: 'GET' | 'POST' | 'PUT', path: string, body?: unknown): Promise<ApiResponse>;
  /** Like call, but raises an error naming the request and the problem document unless the status is one of `expected`. */
  expect(method: 'GET' | 'POST' | 'PUT', path: string, body: unknown, expected: readonly number[]): Promise<unknown>;
}

async function callJson(url: string, method: string, headers: Record<string, string>, body?: unknown): Promise<ApiResponse> {
  const response = await request(url, {
    method: method as 'GET',
    headers: body === undefined ? headers : { ...headers, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.body.text();
  let parsed: unknown = text;
  try {
    parsed = text === '' ? null : JSON.parse(text);
  } catch {
    // Not JSON: keep the text, so an error message can show it.
  }
  return { status: response.statusCode, body: parsed };
}

function createAdminApi(baseUrl: string, token: string): AdminApi {
  const headers = { authorization: `Bearer ${token}`, accept: 'application/json' };
  const call: AdminApi['call'] = (method, path, body) => callJson(`${baseUrl}${path}`, method, headers, body);
  return {
    call,
    async expect(method, path, body, expected) {
      const response = await call(method, path, body);
      if (!expected.includes(response.status)) {
        throw new Error(`${method} ${path} returned ${response.status}, expected ${expected.join(' or ')}: ${JSON.stringify(response.body)}`);
      }
      return response.body;
    },
  };
}

/**
 * Starts parksync with role 'all' on a fresh in-memory PGlite database and the
 * channel simulator, both on 127.0.0.1 with ports the system picks. The
 * environment is built here rather than read, so a DATABASE_URL or PORT in the
 * caller's shell cannot point the demo at a real database or a fixed port.
 */
export async function startStack(): Promise<DemoStack> {
  const adminToken = randomBytes(24).toString('hex');
  const config = loadConfig({
    HOST: '127.0.0.1',
    PORT: '0',
    PARKSYNC_DATA_DIR: 'memory://',
    PARKSYNC_ADMIN_TOKEN: adminToken,
    LOG_LEVEL: 'warn',
  });
  const simulator = await startSimulator({ port: 0 });
  let service: RunningService;
  try {
    service = await startService('all', config);
  } catch (error) {
    await simulator.close();
    throw error;
  }
  if (!service.url) {
    await service.stop();
    await simulator.close();
    throw new Error('parksync started without an HTTP listener; role "all" should serve the API');
  }
  const parksyncUrl = service.url;

  let stopping: Promise<void> | undefined;
  const stop = () => {
    // parksync goes first, so its worker is not left sending to a closed simulator.
    stopping ??= service.stop().finally(() => simulator.close());
    return stopping;
  };
  return { service, parksyncUrl, simulator, api: createAdminApi(parksyncUrl, adminToken), stop };
}
