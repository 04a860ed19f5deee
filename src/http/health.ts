import type { FastifyPluginAsync } from 'fastify';
import { sql } from 'kysely';
import { pendingMigrations } from '../db/migrate.ts';
import { metricsRegistry } from '../observability/metrics.ts';
import type { AppContext } from './context.ts';

export function healthRoutes(ctx: AppContext): FastifyPluginAsync {
  return async (app) => {
    app.get('/metrics', { schema: { hide: true } }, async (_request, reply) => {
      reply.type(metricsRegistry.contentType);
      return metricsRegistry.metrics();
    });

    app.get('/healthz', { schema: { hide: true } }, async () => ({ status: 'ok' }));

    /** Ready when the database responds and every migration is applied. */
    app.get('/readyz', { schema: { hide: true } }, async (_request, reply) => {
      try {
        await sql`select 1`.execute(ctx.db);
      } catch (error) {
        ctx.logger.warn({ err: error }, 'readiness check: database unreachable');
        return reply.code(503).send({ status: 'unavailable', database: 'unreachable' });
      }
      const pending = await pendingMigrations(ctx.handle);
      if (pending.length > 0) {
        return reply.code(503).send({ status: 'unavailable', database: 'ok', pendingMigrations: pending });
      }
      return { status: 'ready', database: ctx.handle.kind };
    });
  };
}
