import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { recordAudit } from '../audit/audit.ts';
import { inTransaction } from '../db/transaction.ts';
import { validationError } from '../errors.ts';
import { actorOf, requireScope } from '../http/auth.ts';
import type { AppContext } from '../http/context.ts';
import { Slug } from '../http/schemas.ts';
import { getPark } from '../parks/parks.ts';
import { DIRECT_CHANNEL } from '../inventory/routes.ts';
import { FLAG_DEFAULT_FOR_NEW_CONNECTION } from '../flags/rollout.ts';
import { changedSettings, getConnection, putConnection, toConnectionView, ADAPTERS } from './connections.ts';
import { rotateSecret } from './rotation.ts';

const ConnectionParams = Type.Object({ parkId: Slug('Park id'), channel: Slug('Channel') });

const RateLimitSchema = (direction: string) =>
  Type.Object(
    {
      perSecond: Type.Integer({ minimum: 1, maximum: 10000, description: `Sustained ${direction} requests per second` }),
      burst: Type.Integer({ minimum: 1, maximum: 100000, description: `Requests allowed at once before ${direction} throttling` }),
    },
    { additionalProperties: false },
  );

const ConnectionBody = Type.Object(
  {
    endpointUrl: Type.Optional(
      Type.Union([Type.String({ maxLength: 2048, description: 'Where outbound deliveries are sent' }), Type.Null()]),
    ),
    adapter: Type.Optional(Type.String({ description: `One of: ${ADAPTERS.join(', ')}` })),
    rateLimitIn: Type.Optional(RateLimitSchema('inbound')),
    rateLimitOut: Type.Optional(RateLimitSchema('outbound')),
    maxAttempts: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, description: 'Delivery attempts before the dead-letter queue' })),
    enabled: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);

const RotateBody = Type.Object(
  {
    graceSeconds: Type.Optional(
      Type.Integer({ minimum: 0, maximum: 30 * 86400, description: 'How long the previous secret keeps verifying (default 86400)' }),
    ),
    note: Type.Optional(Type.String({ maxLength: 500 })),
  },
  { additionalProperties: false },
);

export function connectionRoutes(ctx: AppContext): FastifyPluginAsync {
  return async (base) => {
    const app = base.withTypeProvider<TypeBoxTypeProvider>();

    app.put(
      '/parks/:parkId/channels/:channel',
      {
        schema: {
          tags: ['connections'],
          summary: 'Create a connection (201, with its signing secret, shown once) or change its settings (200)',
          params: ConnectionParams,
          body: ConnectionBody,
        },
        onRequest: requireScope(ctx, 'admin'),
      },
      async (request, reply) => {
        const { parkId, channel } = request.params;
        // Direct reservations are stored under this channel name, so a connection
        // with it could overwrite or cancel them through its webhooks.
        if (channel === DIRECT_CHANNEL) {
          throw validationError([
            { field: 'params:channel', message: `"${DIRECT_CHANNEL}" is kept for the park's own reservations; choose another channel name` },
          ]);
        }
        const actor = actorOf(request);
        const result = await inTransaction(ctx.db, async (trx) => {
          await getPark(trx, parkId, { forUpdate: true });
          const outcome = await putConnection(trx, parkId, channel, request.body);
          if (outcome.created) {
            // New connections start in shadow mode, whatever the wider flag settings are.
            await ctx.flags.set(
              trx,
              { flag: 'channel_sync_webhooks', channel, parkId, value: FLAG_DEFAULT_FOR_NEW_CONNECTION },
              actor,
            );
          }
          await recordAudit(trx, {
            actor,
            action: outcome.created ? 'connection.create' : 'connection.update',
            parkId,
            channel,
            details: outcome.created
              ? { settings: request.body, channelSyncWebhooks: FLAG_DEFAULT_FOR_NEW_CONNECTION }
              : { changes: changedSettings(outcome.previous, outcome.row) },
            requestId: request.id,
          });
          return outcome;
        });
        ctx.flags.invalidate();
        const view = toConnectionView(result.row, ctx.clock.now());
        if (result.created) {
          reply.header('cache-control', 'no-store');
          return reply.code(201).send({ ...view, secret: result.secret });
        }
        return reply.code(200).send(view);
      },
    );

    app.get(
      '/parks/:parkId/channels/:channel',
      {
        schema: { tags: ['connections'], summary: 'Read a connection (secrets are never shown)', params: ConnectionParams },
        onRequest: requireScope(ctx, 'read'),
      },
      async (request) => {
        const { parkId, channel } = request.params;
        await getPark(ctx.db, parkId);
        return toConnectionView(await getConnection(ctx.db, parkId, channel), ctx.clock.now());
      },
    );

    app.post(
      '/parks/:parkId/channels/:channel/rotate-secret',
      {
        schema: {
          tags: ['connections'],
          summary: 'Rotate the signing secret; the new one is returned once, the previous one verifies until the grace ends',
          params: ConnectionParams,
          body: RotateBody,
        },
        onRequest: requireScope(ctx, 'admin'),
      },
      async (request, reply) => {
        const { parkId, channel } = request.params;
        const graceSeconds = request.body.graceSeconds ?? 86400;
        const result = await inTransaction(ctx.db, async (trx) => {
          await getPark(trx, parkId);
          const rotated = await rotateSecret(trx, parkId, channel, graceSeconds, ctx.clock.now());
          await recordAudit(trx, {
            actor: actorOf(request),
            action: 'connection.rotate_secret',
            parkId,
            channel,
            details: { graceSeconds, previousValidUntil: rotated.previousValidUntil.toISOString() },
            note: request.body.note ?? null,
            requestId: request.id,
          });
          return rotated;
        });
        reply.header('cache-control', 'no-store');
        return reply.code(200).send({
          parkId,
          channel,
          secret: result.secret,
          previousSecretValidUntil: result.previousValidUntil.toISOString(),
        });
      },
    );
  };
}
