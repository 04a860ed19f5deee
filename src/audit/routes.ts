import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { AppError } from '../errors.ts';
import { principalOf, requireScope } from '../http/auth.ts';
import type { AppContext } from '../http/context.ts';
import { Slug } from '../http/schemas.ts';

const AuditQuery = Type.Object(
  {
    parkId: Type.Optional(Slug('Only entries of this park')),
    channel: Type.Optional(Slug('Only entries of this channel')),
    action: Type.Optional(Type.String({ maxLength: 64 })),
    before: Type.Optional(Type.Integer({ minimum: 1, description: 'Cursor: entries older than this auditId' })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
  },
  { additionalProperties: false },
);

export function auditRoutes(ctx: AppContext): FastifyPluginAsync {
  return async (base) => {
    const app = base.withTypeProvider<TypeBoxTypeProvider>();

    app.get(
      '/audit',
      {
        schema: { tags: ['audit'], summary: 'Read the audit log, newest first', querystring: AuditQuery },
        onRequest: requireScope(ctx, 'read'),
      },
      async (request) => {
        const principal = principalOf(request);
        const { parkId, channel, action, before, limit = 100 } = request.query;
        if (principal.parkIds !== null && (!parkId || !principal.parkIds.includes(parkId))) {
          throw new AppError('forbidden_park', 'A token limited to some parks must give one of them as parkId.');
        }
        let query = ctx.db.selectFrom('audit_log').selectAll().orderBy('audit_id', 'desc').limit(limit);
        if (parkId) query = query.where('park_id', '=', parkId);
        if (channel) query = query.where('channel', '=', channel);
        if (action) query = query.where('action', '=', action);
        if (before) query = query.where('audit_id', '<', before);
        const rows = await query.execute();
        const last = rows.at(-1);
        return {
          items: rows.map((row) => ({
            auditId: row.audit_id,
            occurredAt: row.occurred_at.toISOString(),
            actor: row.actor,
            action: row.action,
            parkId: row.park_id,
            channel: row.channel,
            details: row.details,
            note: row.note,
            requestId: row.request_id,
          })),
          nextCursor: rows.length === limit && last ? String(last.audit_id) : null,
        };
      },
    );
  };
}
