import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { recordAudit } from '../audit/audit.ts';
import { inTransaction } from '../db/transaction.ts';
import { AppError, validationError } from '../errors.ts';
import { actorOf, principalOf, requireScope } from '../http/auth.ts';
import type { AppContext } from '../http/context.ts';
import { Slug } from '../http/schemas.ts';
import { createToken, SCOPES, type Scope } from './tokens.ts';

const TokenBody = Type.Object(
  {
    scopes: Type.Array(Type.Union(SCOPES.map((scope) => Type.Literal(scope))), { minItems: 1, maxItems: 3, uniqueItems: true }),
    parkIds: Type.Optional(Type.Array(Slug('Park id'), { minItems: 1, maxItems: 1000, uniqueItems: true })),
    channel: Type.Optional(Slug('Channel whose pull endpoints the token may read')),
    label: Type.Optional(Type.String({ maxLength: 200 })),
  },
  { additionalProperties: false },
);

export function tokenRoutes(ctx: AppContext): FastifyPluginAsync {
  return async (base) => {
    const app = base.withTypeProvider<TypeBoxTypeProvider>();

    app.post(
      '/tokens',
      {
        schema: { tags: ['tokens'], summary: 'Create a bearer token; the token is returned once and stored only as a hash', body: TokenBody },
        onRequest: requireScope(ctx, 'admin'),
      },
      async (request, reply) => {
        const principal = principalOf(request);
        const { scopes, parkIds, channel, label } = request.body;
        if (principal.parkIds !== null) {
          const outside = (parkIds ?? []).filter((parkId) => !principal.parkIds?.includes(parkId));
          if (parkIds === undefined || outside.length > 0) {
            throw new AppError('forbidden_park', 'A token limited to some parks can only create tokens limited to those parks; list them in parkIds.');
          }
        }
        if (channel !== undefined && scopes.some((scope) => scope !== 'read')) {
          throw validationError([{ field: 'scopes', message: 'a channel token can only have the "read" scope' }]);
        }
        const created = await inTransaction(ctx.db, async (trx) => {
          if (parkIds) {
            const found = await trx.selectFrom('parks').select('park_id').where('park_id', 'in', parkIds).execute();
            const missing = parkIds.filter((parkId) => !found.some((row) => row.park_id === parkId));
            if (missing.length > 0) {
              throw validationError([{ field: 'parkIds', message: `unknown park(s): ${missing.join(', ')}` }]);
            }
          }
          const token = await createToken(trx, {
            scopes: scopes as Scope[],
            parkIds: parkIds ?? null,
            channel: channel ?? null,
            label: label ?? null,
            createdBy: actorOf(request),
          });
          await recordAudit(trx, {
            actor: actorOf(request),
            action: 'token.create',
            channel: channel ?? null,
            details: { tokenId: token.tokenId, scopes, parkIds: parkIds ?? null, label: label ?? null },
            requestId: request.id,
          });
          return token;
        });
        reply.header('cache-control', 'no-store');
        return reply.code(201).send({
          tokenId: created.tokenId,
          token: created.token,
          scopes,
          parkIds: parkIds ?? null,
          channel: channel ?? null,
        });
      },
    );

    app.delete(
      '/tokens/:tokenId',
      {
        schema: { tags: ['tokens'], summary: 'Revoke a token', params: Type.Object({ tokenId: Type.String({ maxLength: 64 }) }) },
        onRequest: requireScope(ctx, 'admin'),
      },
      async (request) => {
        const { tokenId } = request.params;
        const principal = principalOf(request);
        await inTransaction(ctx.db, async (trx) => {
          const row = await trx.selectFrom('api_tokens').select(['token_id', 'park_ids']).where('token_id', '=', tokenId).executeTakeFirst();
          const allowed =
            row && (principal.parkIds === null || (row.park_ids ?? []).every((parkId) => principal.parkIds?.includes(parkId)) && row.park_ids !== null);
          if (!row || !allowed) throw new AppError('token_not_found', `Token "${tokenId}" does not exist.`);
          await trx.updateTable('api_tokens').set({ revoked_at: ctx.clock.now() }).where('token_id', '=', tokenId).execute();
          await recordAudit(trx, { actor: actorOf(request), action: 'token.revoke', details: { tokenId }, requestId: request.id });
        });
        return { tokenId, revoked: true };
      },
    );
  };
}
