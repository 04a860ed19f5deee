import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { Principal } from '../auth/tokens.ts';
import { AppError, validationError } from '../errors.ts';
import { principalOf, requireScope } from '../http/auth.ts';
import type { AppContext } from '../http/context.ts';
import { Slug } from '../http/schemas.ts';
import { LOG_DIRECTIONS, LOG_KINDS, LOG_STATUSES, readLogPage, type LogPosition } from './logs-queries.ts';

export const DEFAULT_LOGS_LIMIT = 100;
export const MAX_LOGS_LIMIT = 1000;
/** Maximum cursor length in characters. The longest cursor encodeLogCursor issues, for a 64-character channel, has 216. */
const MAX_CURSOR_LENGTH = 512;

const CURSOR_VERSION = 1;
const POSITION_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const BASE64URL = /^[A-Za-z0-9_-]+$/;

const LogsParams = Type.Object({ channel: Slug('Channel') });

const LogsQuery = Type.Object(
  {
    parkId: Type.Optional(Slug('Only events of this park')),
    status: Type.Optional(Type.Enum(LOG_STATUSES, { description: 'Only events with this status' })),
    kind: Type.Optional(Type.Enum(LOG_KINDS, { description: 'Only events of this kind' })),
    direction: Type.Optional(Type.Enum(LOG_DIRECTIONS, { description: 'inbound (webhooks) or outbound (delivery attempts, drift)' })),
    since: Type.Optional(Type.String({ format: 'date-time', description: 'Only events at or after this time (ISO 8601 with a time zone)' })),
    until: Type.Optional(Type.String({ format: 'date-time', description: 'Only events before this time (ISO 8601 with a time zone)' })),
    cursor: Type.Optional(Type.String({ minLength: 1, maxLength: MAX_CURSOR_LENGTH, description: 'nextCursor of the previous page' })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_LOGS_LIMIT, default: DEFAULT_LOGS_LIMIT })),
  },
  { additionalProperties: false },
);

/**
 * Encodes a page position as base64url JSON. The cursor is opaque to callers
 * but not secret: it contains a time and an event id the caller has already seen.
 */
export function encodeLogCursor(channel: string, position: LogPosition): string {
  const document = { v: CURSOR_VERSION, channel, t: position.occurredAt, id: position.eventId };
  return Buffer.from(JSON.stringify(document), 'utf8').toString('base64url');
}

/** Decodes a cursor issued for `channel`; undefined when it is malformed or belongs to another channel. */
export function decodeLogCursor(text: string, channel: string): LogPosition | undefined {
  if (!BASE64URL.test(text)) return undefined;
  let document: unknown;
  try {
    document = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof document !== 'object' || document === null || Array.isArray(document)) return undefined;
  const { v, channel: cursorChannel, t, id, ...rest } = document as Record<string, unknown>;
  if (v !== CURSOR_VERSION || cursorChannel !== channel || Object.keys(rest).length > 0) return undefined;
  if (typeof t !== 'string' || !POSITION_TIME.test(t) || Number.isNaN(Date.parse(t))) return undefined;
  if (typeof id !== 'string' || !UUID.test(id)) return undefined;
  return { occurredAt: t, eventId: id };
}

/** Parks the caller may read: the one asked for, or every park of a park-limited token (null: all). */
function allowedParks(principal: Principal, parkId: string | undefined): string[] | null {
  if (parkId !== undefined && principal.parkIds !== null && !principal.parkIds.includes(parkId)) {
    throw new AppError('forbidden_park', `The token is not allowed for park "${parkId}".`);
  }
  return principal.parkIds;
}

/** Registers GET /channels/{channel}/logs: the channel's inbound requests and outbound attempts, newest first. */
export function logsRoutes(ctx: AppContext): FastifyPluginAsync {
  return async (base) => {
    const app = base.withTypeProvider<TypeBoxTypeProvider>();

    app.get(
      '/channels/:channel/logs',
      {
        schema: {
          tags: ['runbook'],
          summary: "Read a channel's sync events (webhooks received, deliveries attempted, drift found), newest first",
          params: LogsParams,
          querystring: LogsQuery,
        },
        onRequest: requireScope(ctx, 'read'),
      },
      async (request) => {
        const { channel } = request.params;
        const { parkId, status, kind, direction, since, until, cursor, limit = DEFAULT_LOGS_LIMIT } = request.query;
        const allowedParkIds = allowedParks(principalOf(request), parkId);

        if (since !== undefined && until !== undefined && Date.parse(until) <= Date.parse(since)) {
          throw validationError([{ field: 'query:until', message: 'must be later than since' }]);
        }
        let after: LogPosition | undefined;
        if (cursor !== undefined) {
          after = decodeLogCursor(cursor, channel);
          if (!after) {
            throw new AppError(
              'invalid_cursor',
              `The cursor is malformed or was issued for another channel than "${channel}". Send the nextCursor of this channel's logs, or start again without a cursor.`,
            );
          }
        }

        const page = await readLogPage(ctx.db, { channel, allowedParkIds, parkId, status, kind, direction, since, until, after, limit });
        return { items: page.items, nextCursor: page.next ? encodeLogCursor(channel, page.next) : null };
      },
    );
  };
}
