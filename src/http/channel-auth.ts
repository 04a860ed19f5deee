import type { FastifyReply, FastifyRequest, onRequestAsyncHookHandler } from 'fastify';
import { canAccessPark, findPrincipal, hasScope, type Principal } from '../auth/tokens.ts';
import { AppError, validationError } from '../errors.ts';
import type { AppContext } from './context.ts';
import { SLUG_PATTERN } from './schemas.ts';

const SLUG = new RegExp(SLUG_PATTERN);

// TODO: this repeats the header checks of authenticate() in auth.ts, which is
// not exported. Export it there and call it here, so the two cannot drift.
async function authenticateBearer(ctx: AppContext, request: FastifyRequest): Promise<Principal> {
  const header = request.headers.authorization;
  if (!header) {
    throw new AppError('unauthorized', 'Send an Authorization: Bearer <token> header.', {
      headers: { 'www-authenticate': 'Bearer realm="parksync"' },
    });
  }
  const match = /^Bearer ([\x21-\x7e]{1,512})$/i.exec(header);
  if (!match?.[1]) {
    throw new AppError('unauthorized', 'The Authorization header must be "Bearer <token>".', {
      headers: { 'www-authenticate': 'Bearer realm="parksync", error="invalid_request"' },
    });
  }
  const principal = await findPrincipal(ctx.db, match[1]);
  if (!principal) {
    throw new AppError('unauthorized', 'The bearer token is unknown or revoked.', {
      headers: { 'www-authenticate': 'Bearer realm="parksync", error="invalid_token"' },
    });
  }
  return principal;
}

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
    const principal = await authenticateBearer(ctx, request);
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
