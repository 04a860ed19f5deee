import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { recordAudit } from '../audit/audit.ts';
import { inTransaction } from '../db/transaction.ts';
import { actorOf, requireScope } from '../http/auth.ts';
import type { AppContext } from '../http/context.ts';
import { Slug } from '../http/schemas.ts';
import { DEFAULT_SKEW_SECONDS } from '../webhooks/verify.ts';
import { getConnection, toConnectionView } from './connections.ts';

/** Maximum time a widened window may stay open before it falls back to the default. */
export const MAX_SKEW_EXPIRY_SECONDS = 7 * 86400;

const Params = Type.Object({ parkId: Slug('Park id'), channel: Slug('Channel') });
const Body = Type.Object(
  {
    seconds: Type.Integer({ minimum: 1, maximum: 86400, description: 'Allowed clock skew either way, in seconds' }),
    expiresInSeconds: Type.Integer({
      minimum: 60,
      maximum: MAX_SKEW_EXPIRY_SECONDS,
      description: `When the window falls back to ${DEFAULT_SKEW_SECONDS} s, in seconds from now`,
    }),
    note: Type.String({ minLength: 3, maxLength: 500, description: 'Why the window changes; kept in the audit log' }),
  },
  { additionalProperties: false },
);

export function skewWindowRoutes(ctx: AppContext): FastifyPluginAsync {
  return async (base) => {
    const app = base.withTypeProvider<TypeBoxTypeProvider>();

    app.put(
      '/parks/:parkId/channels/:channel/skew-window',
      {
        schema: {
          tags: ['connections'],
          summary: 'Change the clock-skew window of a connection until an expiry, with an audit note',
          params: Params,
          body: Body,
        },
        onRequest: requireScope(ctx, 'admin'),
      },
      async (request) => {
        const { parkId, channel } = request.params;
        const now = ctx.clock.now();
        const until = new Date(now.getTime() + request.body.expiresInSeconds * 1000);
        const row = await inTransaction(ctx.db, async (trx) => {
          const before = await getConnection(trx, parkId, channel);
          const updated = await trx
            .updateTable('connections')
            .set({
              skew_window_seconds: request.body.seconds,
              skew_window_until: until,
              skew_window_note: request.body.note,
              updated_at: now,
            })
            .where('park_id', '=', parkId)
            .where('channel', '=', channel)
            .returningAll()
            .executeTakeFirstOrThrow();
          await recordAudit(trx, {
            actor: actorOf(request),
            action: 'connection.skew_window',
            parkId,
            channel,
            details: { seconds: request.body.seconds, until: until.toISOString(), previousSeconds: before.skew_window_seconds },
            note: request.body.note,
            requestId: request.id,
          });
          return updated;
        });
        return toConnectionView(row, now);
      },
    );
  };
}
