import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { sql } from 'kysely';
import { Type } from 'typebox';
import { principalOf, requireScope } from '../http/auth.ts';
import type { AppContext } from '../http/context.ts';
import { Slug } from '../http/schemas.ts';
import { ALERT_RULE_NAMES, ALERT_RULES, ALERT_STATES, type AlertRuleName } from './rules.ts';

const AlertsQuery = Type.Object(
  {
    state: Type.Optional(Type.Enum(ALERT_STATES, { description: 'Only this state' })),
    rule: Type.Optional(Type.Enum(ALERT_RULE_NAMES, { description: 'Only this rule' })),
    parkId: Type.Optional(Slug('Only states of this park')),
    channel: Type.Optional(Slug('Only states of this channel')),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 500, description: 'Maximum number of items, firing ones first' })),
  },
  { additionalProperties: false },
);

/**
 * GET /alerts: the stored state of every alert rule and scope, as the last
 * evaluation pass left it. A token limited to some parks gets only the
 * states of those parks, not the per-channel ones that add up every park.
 */
export function alertRoutes(ctx: AppContext): FastifyPluginAsync {
  return async (base) => {
    const app = base.withTypeProvider<TypeBoxTypeProvider>();

    app.get(
      '/alerts',
      {
        schema: {
          tags: ['runbook'],
          summary: 'List alert states (firing, resolved, no_data) with value, threshold and scope; firing first',
          querystring: AlertsQuery,
        },
        onRequest: requireScope(ctx, 'read'),
      },
      async (request) => {
        const { state, rule, parkId, channel } = request.query;
        const limit = request.query.limit ?? 500;
        const allowedParks = principalOf(request).parkIds;
        let query = ctx.db.selectFrom('alert_states').selectAll();
        if (state !== undefined) query = query.where('state', '=', state);
        if (rule !== undefined) query = query.where('rule', '=', rule);
        if (parkId !== undefined) query = query.where('park_id', '=', parkId);
        if (channel !== undefined) query = query.where('channel', '=', channel);
        if (allowedParks !== null) query = query.where('park_id', 'in', allowedParks.length > 0 ? allowedParks : ['']).where('park_id', '!=', '');
        const rows = await query
          .orderBy(sql`case state when 'firing' then 0 when 'no_data' then 1 else 2 end`)
          .orderBy('rule')
          .orderBy('park_id')
          .orderBy('channel')
          .limit(limit + 1)
          .execute();
        return {
          items: rows.slice(0, limit).map((row) => ({
            rule: row.rule,
            parkId: row.park_id || null,
            channel: row.channel || null,
            state: row.state,
            since: row.since.toISOString(),
            value: row.value,
            threshold: row.threshold,
            unit: ALERT_RULES[row.rule as AlertRuleName]?.unit ?? null,
            detail: row.detail,
            evaluatedAt: row.evaluated_at.toISOString(),
          })),
          hasMore: rows.length > limit,
        };
      },
    );
  };
}
