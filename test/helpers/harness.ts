import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import pino from 'pino';
import { DEFAULT_ALERT_THRESHOLDS } from '../../src/alerts/rules.ts';
import type { Config } from '../../src/config.ts';
import { upsertBootstrapToken } from '../../src/auth/tokens.ts';
import { FlagStore } from '../../src/flags/store.ts';
import { buildApp, type App } from '../../src/http/app.ts';
import type { AppContext } from '../../src/http/context.ts';
import { ManualClock, type Clock } from '../../src/lib/clock.ts';
import { ensureEventPartitions } from '../../src/worker/maintenance.ts';
import { createTestDatabase, type TestDatabase } from './database.ts';
import { TokenLeases } from '../../src/channels/token-leases.ts';
import { WebhookTargetCache } from '../../src/webhooks/target.ts';

export const ADMIN_TOKEN = 'test-admin-token-0123456789abcdef';

/** Test "now": a Friday, so weekday-dependent logic has a known starting point. */
export const TEST_NOW = '2026-12-04T12:00:00Z';

export interface Harness {
  app: App;
  ctx: AppContext;
  clock: ManualClock;
  database: TestDatabase;
  /** Sends a request through inject with the admin token unless `token` is given (null sends no header). */
  call(method: InjectOptions['method'], url: string, body?: unknown, token?: string | null): Promise<LightMyRequestResponse>;
  close(): Promise<void>;
}

export function testConfig(overrides: Partial<Config> = {}): Config {
  return {
    host: '127.0.0.1',
    port: 0,
    databaseUrl: undefined,
    dataDir: 'memory://',
    databasePoolSize: 10,
    adminToken: ADMIN_TOKEN,
    logLevel: 'silent',
    instanceId: `test-${process.pid}`,
    shutdownGraceSeconds: 5,
    deliveryLeaseSeconds: 60,
    deliveryConcurrency: 8,
    metricsPort: undefined,
    alertThresholds: { ...DEFAULT_ALERT_THRESHOLDS },
    alertWebhookUrl: undefined,
    alertWebhookSecret: undefined,
    ...overrides,
  };
}

/** Builds the app on a fresh test database with a manual clock and an admin token. */
export async function startHarness(options: { clock?: Clock } = {}): Promise<Harness> {
  const database = await createTestDatabase();
  const clock = (options.clock as ManualClock | undefined) ?? new ManualClock(TEST_NOW);
  const ctx: AppContext = {
    config: testConfig({ databaseUrl: database.url }),
    handle: database.handle,
    db: database.handle.db,
    flags: new FlagStore(database.handle.db),
    webhookTargets: new WebhookTargetCache(),
    tokenLeases: new TokenLeases(),
    clock,
    logger: pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }),
  };
  await ensureEventPartitions(ctx);
  await upsertBootstrapToken(ctx.db, ADMIN_TOKEN);
  const app = await buildApp(ctx);
  await app.ready();

  const call: Harness['call'] = (method, url, body, token = ADMIN_TOKEN) =>
    app.inject({
      method,
      url,
      headers: token === null ? {} : { authorization: `Bearer ${token}` },
      ...(body !== undefined ? { payload: body as InjectOptions['payload'] } : {}),
    });

  return {
    app,
    ctx,
    clock,
    database,
    call,
    close: async () => {
      await app.close();
      await database.drop();
    },
  };
}

/** Creates a park with the given unit types (id → units). */
export async function seedPark(
  harness: Harness,
  parkId = 'dune-camp',
  unitTypes: Record<string, number> = { cabin: 5 },
  park: { timezone?: string; currency?: string } = {},
): Promise<void> {
  const created = await harness.call('POST', '/parks', {
    parkId,
    name: 'Dune Camp',
    timezone: park.timezone ?? 'Europe/Amsterdam',
    currency: park.currency ?? 'EUR',
  });
  if (created.statusCode !== 201) throw new Error(`seedPark: ${created.statusCode} ${created.body}`);
  for (const [unitTypeId, units] of Object.entries(unitTypes)) {
    const response = await harness.call('PUT', `/parks/${parkId}/unit-types/${unitTypeId}`, { name: unitTypeId, units });
    if (response.statusCode !== 201) throw new Error(`seedPark: ${response.statusCode} ${response.body}`);
  }
}
