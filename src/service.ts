import { writeFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { Config, Role } from './config.ts';
import { openDatabase, type DatabaseHandle } from './db/database.ts';
import { migrate } from './db/migrate.ts';
import { FIRST_TOKEN_FILE } from './auth/first-token.ts';
import { countActiveTokens, createToken, upsertBootstrapToken } from './auth/tokens.ts';
import { FlagStore } from './flags/store.ts';
import { buildApp, type App } from './http/app.ts';
import type { AppContext } from './http/context.ts';
import { systemClock, type Clock } from './lib/clock.ts';
import { createLogger, type Logger } from './observability/logger.ts';
import { startMetricsServer } from './observability/metrics-server.ts';
import { ensureEventPartitions } from './worker/maintenance.ts';
import { startWorker, type Worker } from './worker/worker.ts';
import { TokenLeases } from './channels/token-leases.ts';
import { WebhookTargetCache } from './webhooks/target.ts';


/** Opens the database, applies migrations and prepares what every role needs. */
export async function createContext(config: Config, options: { clock?: Clock; logger?: Logger } = {}): Promise<AppContext> {
  const logger = options.logger ?? createLogger(config.logLevel);
  const handle: DatabaseHandle = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, poolSize: config.databasePoolSize });
  const result = await migrate(handle);
  if (result.applied.length > 0) logger.info({ applied: result.applied, database: handle.kind }, 'migrations applied');
  const ctx: AppContext = {
    config,
    handle,
    db: handle.db,
    flags: new FlagStore(handle.db),
    webhookTargets: new WebhookTargetCache(),
    tokenLeases: new TokenLeases(),
    clock: options.clock ?? systemClock,
    logger,
  };
  await ensureEventPartitions(ctx);
  return ctx;
}

/**
 * Makes sure an operator can authenticate. PARKSYNC_ADMIN_TOKEN, when set, is
 * stored as an admin token. Otherwise, on a database with no tokens at all, a
 * first admin token is written to <data dir>/admin-token (mode 0600); the log
 * names the file, never the token.
 */
export async function bootstrapTokens(ctx: AppContext): Promise<void> {
  if (ctx.config.adminToken) {
    await upsertBootstrapToken(ctx.db, ctx.config.adminToken);
    return;
  }
  if ((await countActiveTokens(ctx.db)) > 0) return;
  const created = await createToken(ctx.db, { scopes: ['admin'], label: 'first start', createdBy: 'first-start' });
  const file = path.resolve(ctx.config.dataDir, FIRST_TOKEN_FILE);
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, `${created.token}\n`, { mode: 0o600 });
  ctx.logger.info({ file, tokenId: created.tokenId }, 'no tokens existed; wrote a first admin token to this file');
}

export interface RunningService {
  ctx: AppContext;
  app?: App;
  worker?: Worker;
  url?: string;
  stop(): Promise<void>;
}

export async function startService(role: Role, config: Config, options: { clock?: Clock } = {}): Promise<RunningService> {
  const ctx = await createContext(config, options);
  await bootstrapTokens(ctx);
  let app: App | undefined;
  let url: string | undefined;
  if (role === 'serve' || role === 'all') {
    app = await buildApp(ctx);
    url = await app.listen({ host: config.host, port: config.port });
    ctx.logger.info({ url, docs: `${url}/docs`, role, database: ctx.handle.kind }, `parksync listening; API docs at ${url}/docs`);
  }
  const worker = role === 'work' || role === 'all' ? startWorker(ctx) : undefined;
  const metrics = role === 'work' && config.metricsPort !== undefined ? await startMetricsServer(config.host, config.metricsPort) : undefined;
  if (metrics) ctx.logger.info({ url: metrics.url }, 'worker metrics served');

  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      ctx.logger.info({ role }, 'shutting down: finishing in-flight requests and jobs');
      await app?.close();
      await worker?.stop();
      await metrics?.close();
      await ctx.handle.close();
      ctx.logger.info('shutdown complete');
    })();
    return stopping;
  };
  return { ctx, ...(app ? { app } : {}), ...(worker ? { worker } : {}), ...(url ? { url } : {}), stop };
}
