import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { recordAudit } from '../audit/audit.ts';
import { canAccessPark } from '../auth/tokens.ts';
import { inTransaction } from '../db/transaction.ts';
import { AppError, validationError } from '../errors.ts';
import { actorOf, principalOf, requireScope } from '../http/auth.ts';
import type { AppContext } from '../http/context.ts';
import { Slug } from '../http/schemas.ts';
import { getPark } from '../parks/parks.ts';
import { describeValues, FLAGS, isAllowedValue, isFlagName, type FlagName } from './definitions.ts';

const FlagParams = Type.Object({ flag: Type.String({ maxLength: 64 }) });
const FlagBody = Type.Object(
  {
    value: Type.String({ minLength: 1, maxLength: 64 }),
    channel: Type.Optional(Slug('Limit the setting to this channel')),
    parkId: Type.Optional(Slug('Limit the setting to this park')),
    note: Type.Optional(Type.String({ maxLength: 500, description: 'Why the flag changed, kept in the audit log' })),
  },
  { additionalProperties: false },
);
const EvaluateQuery = Type.Object({ channel: Type.Optional(Slug('Channel')), parkId: Type.Optional(Slug('Park id')) });

function knownFlag(name: string): FlagName {
  if (!isFlagName(name)) {
    throw new AppError('flag_not_found', `Unknown flag "${name}"; known flags: ${Object.keys(FLAGS).join(', ')}.`);
  }
  return name;
}

export function flagRoutes(ctx: AppContext): FastifyPluginAsync {
  return async (base) => {
    const app = base.withTypeProvider<TypeBoxTypeProvider>();

    app.put(
      '/flags/:flag',
      {
        schema: {
          tags: ['flags'],
          summary: 'Set a flag globally, per channel, per park, or per connection (channel and park)',
          params: FlagParams,
          body: FlagBody,
        },
        onRequest: requireScope(ctx, 'admin'),
      },
      async (request) => {
        const flag = knownFlag(request.params.flag);
        const { value, channel = '', parkId = '', note } = request.body;
        if (!isAllowedValue(flag, value)) {
          throw validationError([{ field: 'value', message: `must be one of: ${describeValues(flag)}` }]);
        }
        const principal = principalOf(request);
        if (principal.parkIds !== null && (parkId === '' || !canAccessPark(principal, parkId))) {
          throw new AppError('forbidden_park', 'A token limited to some parks can only set flags for one of those parks; give parkId.');
        }
        await inTransaction(ctx.db, async (trx) => {
          if (parkId !== '') await getPark(trx, parkId);
          const previous = await trx
            .selectFrom('flag_settings')
            .select('value')
            .where('flag', '=', flag)
            .where('channel', '=', channel)
            .where('park_id', '=', parkId)
            .executeTakeFirst();
          await ctx.flags.set(trx, { flag, channel, parkId, value }, actorOf(request));
          await recordAudit(trx, {
            actor: actorOf(request),
            action: 'flag.set',
            parkId: parkId || null,
            channel: channel || null,
            details: { flag, value, previous: previous?.value ?? null },
            note: note ?? null,
            requestId: request.id,
          });
        });
        ctx.flags.invalidate();
        const effective = await ctx.flags.evaluate(flag, { channel: channel || undefined, parkId: parkId || undefined });
        return { flag, value, channel: channel || null, parkId: parkId || null, effective };
      },
    );

    app.get(
      '/flags',
      { schema: { tags: ['flags'], summary: 'List flags with their defaults and every stored setting' }, onRequest: requireScope(ctx, 'read') },
      async (request) => {
        const principal = principalOf(request);
        const settings = (await ctx.flags.list()).filter(
          (setting) => setting.parkId === '' || canAccessPark(principal, setting.parkId),
        );
        return {
          items: Object.entries(FLAGS).map(([name, definition]) => ({
            flag: name,
            defaultValue: definition.defaultValue,
            allowedValues: describeValues(name as FlagName).split(', '),
            settings: settings
              .filter((setting) => setting.flag === name)
              .map((setting) => ({ value: setting.value, channel: setting.channel || null, parkId: setting.parkId || null })),
          })),
        };
      },
    );

    app.get(
      '/flags/:flag/evaluate',
      {
        schema: { tags: ['flags'], summary: 'Show the value a flag takes for a channel and park', params: FlagParams, querystring: EvaluateQuery },
        onRequest: requireScope(ctx, 'read'),
      },
      async (request) => {
        const flag = knownFlag(request.params.flag);
        const { parkId } = request.query;
        if (parkId !== undefined && !canAccessPark(principalOf(request), parkId)) {
          throw new AppError('forbidden_park', `The token is not allowed for park "${parkId}".`);
        }
        const value = await ctx.flags.evaluate(flag, request.query);
        return { flag, channel: request.query.channel ?? null, parkId: request.query.parkId ?? null, value };
      },
    );
  };
}
