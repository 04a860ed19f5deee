import type { FastifyReply, FastifyRequest, onRequestAsyncHookHandler } from 'fastify';
import { AppError } from '../errors.ts';
import { canAccessPark, findPrincipal, hasScope, type Principal, type Scope } from '../auth/tokens.ts';
import type { AppContext } from './context.ts';

declare module 'fastify' {
  interface FastifyRequest {
    principal?: Principal;
  }
}

/** Reads the bearer token, or raises 401 naming what is wrong with the header. */
export async function authenticate(ctx: AppContext, request: FastifyRequest): Promise<Principal> {
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
 * An onRequest hook that requires an operator token with `scope`. When the route
 * has a :parkId parameter, a token limited to other parks gets 403.
 */
export function requireScope(ctx: AppContext, scope: Scope): onRequestAsyncHookHandler {
  return async (request: FastifyRequest, _reply: FastifyReply) => {
    const principal = await authenticate(ctx, request);
    if (principal.channel !== null) {
      throw new AppError('forbidden', 'A channel token can only call the channel pull endpoints; use an operator token.');
    }
    if (!hasScope(principal, scope)) {
      throw new AppError('forbidden', `This action needs the "${scope}" scope; the token has: ${principal.scopes.join(', ')}.`);
    }
    const parkId = (request.params as { parkId?: unknown } | undefined)?.parkId;
    if (typeof parkId === 'string' && !canAccessPark(principal, parkId)) {
      throw new AppError('forbidden_park', `The token is not allowed for park "${parkId}".`);
    }
    request.principal = principal;
  };
}

/** The principal set by requireScope; routes without it have no caller identity. */
export function principalOf(request: FastifyRequest): Principal {
  if (!request.principal) throw new Error('route is missing its requireScope hook');
  return request.principal;
}

/** Actor recorded in the audit log: the token id, never the token. */
export function actorOf(request: FastifyRequest): string {
  return principalOf(request).tokenId;
}
