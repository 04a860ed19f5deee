import type { FastifyReply, FastifyRequest, onRequestAsyncHookHandler } from 'fastify';
import { canAccessPark, hasScope } from '../auth/tokens.ts';
import { authenticate } from './auth.ts';
import { AppError, validationError } from '../errors.ts';
import type { AppContext } from './context.ts';
import { SLUG_PATTERN } from './schemas.ts';

const SLUG = new RegExp(SLUG_PATTERN);

/**
 * An onRequest hook for the channel pull endpoints, which take the channel in
 * the path and the park in the `parkId` query parameter. It accepts a channel
 * token of that channel, or an operator token with `read` that may act on the
 * park. The connection must exist and be enabled; a paused one may still be read.
 *
 * Every refusal after authentication is the same 404 connection_not_found, so a
 * caller cannot tell a park it may not see from one that does not exist or is
 * connected to another channel.
 */
export function requireChannelAccess(ctx: AppContext): onRequestAsyncHookHandler {
  return async (request: FastifyRequest, _reply: FastifyReply) => {
    const principal = await authenticate(ctx, request);
    const channel = (request.params as { channel?: unknown } | undefined)?.channel;
    const parkId = (request.query as { parkId?: unknown } | undefined)?.parkId;
    // This hook runs before schema validation, so it checks the park id itself.
    if (typeof parkId !== 'string' || !SLUG.test(parkId)) {
      throw validationError([{ field: 'query:parkId', message: 'is required: a park id of 2-64 of a-z, 0-9 and "-"' }]);
    }
    if (typeof channel !== 'string') throw new Error('route is missing its :channel parameter');

    const notFound = new AppError('connection_not_found', `Park "${parkId}" has no connection to channel "${channel}".`);
    if (principal.channel !== null && principal.channel !== channel) throw notFound;
    if (!hasScope(principal, 'read') || !canAccessPark(principal, parkId)) throw notFound;
    const connection = await ctx.db
      .selectFrom('connections')
      .select('enabled')
      .where('park_id', '=', parkId)
      .where('channel', '=', channel)
      .executeTakeFirst();
    if (!connection?.enabled) throw notFound;
    request.principal = principal;
  };
}
