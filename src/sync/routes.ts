import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { recordAudit } from '../audit/audit.ts';
import type { Principal } from '../auth/tokens.ts';
import { adapterFor } from '../channels/adapters/index.ts';
import { inTransaction } from '../db/transaction.ts';
import type { ConnectionRow } from '../db/schema.ts';
import { AppError } from '../errors.ts';
import { actorOf, principalOf, requireScope } from '../http/auth.ts';
import type { AppContext } from '../http/context.ts';
import { Slug } from '../http/schemas.ts';
import { listDeadLetters, redriveDeadLetters } from './control.ts';

/** How long resume waits for the channel's health check. */
const HEALTH_CHECK_TIMEOUT_MS = 5_000;

const ChannelParams = Type.Object({ channel: Slug('Channel') });
const PauseBody = Type.Object(
  {
    parkId: Type.Optional(Slug('Only this park; every park of the channel when left out')),
    reason: Type.String({ minLength: 3, maxLength: 500, description: 'Why, shown on the connection and in the audit log' }),
  },
  { additionalProperties: false },
);
const ResumeBody = Type.Object(
  {
    parkId: Type.Optional(Slug('Only this park; every park of the channel when left out')),
    force: Type.Optional(Type.Boolean({ description: 'Resume without the health check' })),
    note: Type.Optional(Type.String({ maxLength: 500 })),
  },
  { additionalProperties: false },
);
const DlqQuery = Type.Object(
  {
    parkId: Type.Optional(Slug('Only this park')),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
    before: Type.Optional(Type.String({ format: 'date-time', description: 'Cursor: entries that died before this time' })),
  },
  { additionalProperties: false },
);
const RetryBody = Type.Object(
  {
    ids: Type.Optional(Type.Array(Type.String({ format: 'uuid' }), { minItems: 1, maxItems: 1000, uniqueItems: true })),
    parkId: Type.Optional(Slug('Only this park')),
  },
  { additionalProperties: false },
);

/** The parks an action covers: the one given, or every park the token may act on (null: all). */
function parkScope(principal: Principal, parkId: string | undefined): string[] | null {
  if (parkId !== undefined) {
    if (principal.parkIds !== null && !principal.parkIds.includes(parkId)) {
      throw new AppError('forbidden_park', `The token is not allowed for park "${parkId}".`);
    }
    return [parkId];
  }
  return principal.parkIds;
}

async function connectionsOf(ctx: AppContext, channel: string, parks: string[] | null, paused: boolean): Promise<ConnectionRow[]> {
  let query = ctx.db.selectFrom('connections').selectAll().where('channel', '=', channel).where('paused', '=', paused).orderBy('park_id');
  if (parks !== null) query = query.where('park_id', 'in', parks.length > 0 ? parks : ['']);
  return query.execute();
}

export function syncControlRoutes(ctx: AppContext): FastifyPluginAsync {
  return async (base) => {
    const app = base.withTypeProvider<TypeBoxTypeProvider>();

    app.post(
      '/channels/:channel/pause',
      {
        schema: { tags: ['runbook'], summary: "Pause a channel's connections: deliveries wait and webhooks get 503", params: ChannelParams, body: PauseBody },
        onRequest: requireScope(ctx, 'ops'),
      },
      async (request) => {
        const { channel } = request.params;
        const parks = parkScope(principalOf(request), request.body.parkId);
        const now = ctx.clock.now();
        const paused = await inTransaction(ctx.db, async (trx) => {
          let query = trx
            .updateTable('connections')
            .set({ paused: true, paused_reason: request.body.reason, paused_by: actorOf(request), paused_at: now, updated_at: now })
            .where('channel', '=', channel)
            .where('paused', '=', false);
          if (parks !== null) query = query.where('park_id', 'in', parks.length > 0 ? parks : ['']);
          const rows = await query.returning('park_id').execute();
          for (const row of rows) {
            await recordAudit(trx, {
              actor: actorOf(request),
              action: 'connection.pause',
              parkId: row.park_id,
              channel,
              note: request.body.reason,
              requestId: request.id,
            });
          }
          return rows.map((row) => row.park_id);
        });
        if (request.body.parkId && paused.length === 0) {
          const exists = await connectionsOf(ctx, channel, [request.body.parkId], true);
          if (exists.length === 0) throw new AppError('connection_not_found', `Park "${request.body.parkId}" has no connection to channel "${channel}".`);
        }
        return { channel, paused };
      },
    );

    app.post(
      '/channels/:channel/resume',
      {
        schema: {
          tags: ['runbook'],
          summary: "Resume paused connections after the channel's health check passes (or with force); waiting deliveries then drain",
          params: ChannelParams,
          body: ResumeBody,
        },
        onRequest: requireScope(ctx, 'ops'),
      },
      async (request) => {
        const { channel } = request.params;
        const parks = parkScope(principalOf(request), request.body.parkId);
        const candidates = await connectionsOf(ctx, channel, parks, true);
        if (!request.body.force) {
          const checks = await Promise.all(
            candidates.map(async (connection) => ({
              parkId: connection.park_id,
              ...(await adapterFor(connection.adapter).healthCheck(connection, HEALTH_CHECK_TIMEOUT_MS)),
            })),
          );
          const failed = checks.filter((check) => !check.ok);
          if (failed.length > 0) {
            throw new AppError(
              'health_check_failed',
              `The health check failed for ${failed.length} connection(s); nothing was resumed. Fix the channel, or resume with force.`,
              { extensions: { failed: failed.map((check) => ({ parkId: check.parkId, detail: check.detail })) } },
            );
          }
        }
        const now = ctx.clock.now();
        const resumed = await inTransaction(ctx.db, async (trx) => {
          const ids = candidates.map((connection) => connection.park_id);
          if (ids.length === 0) return [];
          const rows = await trx
            .updateTable('connections')
            .set({ paused: false, paused_reason: null, paused_by: null, paused_at: null, updated_at: now })
            .where('channel', '=', channel)
            .where('park_id', 'in', ids)
            .returning('park_id')
            .execute();
          for (const row of rows) {
            await recordAudit(trx, {
              actor: actorOf(request),
              action: 'connection.resume',
              parkId: row.park_id,
              channel,
              details: { force: request.body.force ?? false },
              note: request.body.note ?? null,
              requestId: request.id,
            });
          }
          return rows.map((row) => row.park_id);
        });
        return { channel, resumed };
      },
    );

    app.get(
      '/channels/:channel/dlq',
      {
        schema: { tags: ['runbook'], summary: 'List dead deliveries of a channel, newest first', params: ChannelParams, querystring: DlqQuery },
        onRequest: requireScope(ctx, 'read'),
      },
      async (request) => {
        const parks = parkScope(principalOf(request), request.query.parkId);
        const limit = request.query.limit ?? 100;
        const items = await listDeadLetters(ctx.db, { channel: request.params.channel, parkIds: parks, limit, before: request.query.before });
        const last = items.at(-1);
        return { items, nextCursor: items.length === limit && last ? last.deadAt : null };
      },
    );

    app.post(
      '/channels/:channel/dlq/retry',
      {
        schema: {
          tags: ['runbook'],
          summary: 'Redrive dead deliveries: their nights are queued again and sent with the state as it is now',
          params: ChannelParams,
          body: RetryBody,
        },
        onRequest: requireScope(ctx, 'ops'),
      },
      async (request) => {
        const { channel } = request.params;
        const parks = parkScope(principalOf(request), request.body.parkId);
        const redriven = await inTransaction(ctx.db, async (trx) => {
          const ids = await redriveDeadLetters(trx, { channel, parkIds: parks, deliveryIds: request.body.ids });
          await recordAudit(trx, {
            actor: actorOf(request),
            action: 'dlq.retry',
            parkId: request.body.parkId ?? null,
            channel,
            details: { deliveryIds: ids },
            requestId: request.id,
          });
          return ids;
        });
        return { channel, redriven };
      },
    );
  };
}
