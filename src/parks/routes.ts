import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { recordAudit } from '../audit/audit.ts';
import { inTransaction } from '../db/transaction.ts';
import { AppError } from '../errors.ts';
import { actorOf, principalOf, requireScope } from '../http/auth.ts';
import type { AppContext } from '../http/context.ts';
import { ParkParams, Slug } from '../http/schemas.ts';
import { listConnections, toConnectionView } from '../channels/connections.ts';
import { createPark, getPark, listParks, listUnitTypes, putUnitType, toParkView, toUnitTypeView } from './parks.ts';

const ParkBody = Type.Object(
  {
    parkId: Slug('Park id'),
    name: Type.String({ minLength: 1, maxLength: 200 }),
    timezone: Type.String({ minLength: 1, maxLength: 64, description: 'IANA timezone, such as Europe/Amsterdam' }),
    currency: Type.String({ pattern: '^[A-Z]{3}$', description: 'ISO 4217 code, such as EUR' }),
  },
  { additionalProperties: false },
);

const UnitTypeParams = Type.Object({ parkId: Slug('Park id'), unitTypeId: Slug('Unit type id') });
const UnitTypeBody = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 200 }),
    units: Type.Integer({ minimum: 0, maximum: 100000, description: 'Number of physical units of this type' }),
  },
  { additionalProperties: false },
);

export function parkRoutes(ctx: AppContext): FastifyPluginAsync {
  return async (base) => {
    const app = base.withTypeProvider<TypeBoxTypeProvider>();

    app.post(
      '/parks',
      {
        schema: { tags: ['parks'], summary: 'Create a park', body: ParkBody },
        onRequest: requireScope(ctx, 'admin'),
      },
      async (request, reply) => {
        const principal = principalOf(request);
        if (principal.parkIds !== null) {
          throw new AppError(
            'forbidden_park',
            'A token limited to some parks cannot create parks; use an unrestricted admin token.',
          );
        }
        const park = await inTransaction(ctx.db, async (trx) => {
          const row = await createPark(trx, request.body);
          await recordAudit(trx, {
            actor: actorOf(request),
            action: 'park.create',
            parkId: row.park_id,
            details: { name: row.name, timezone: row.timezone, currency: row.currency },
            requestId: request.id,
          });
          return row;
        });
        return reply.code(201).send({ ...toParkView(park), unitTypes: [], connections: [] });
      },
    );

    app.get(
      '/parks',
      { schema: { tags: ['parks'], summary: 'List the parks the token may see' }, onRequest: requireScope(ctx, 'read') },
      async (request) => {
        const rows = await listParks(ctx.db, principalOf(request).parkIds);
        return { items: rows.map(toParkView) };
      },
    );

    app.get(
      '/parks/:parkId',
      {
        schema: { tags: ['parks'], summary: 'Read a park with its unit types and connections', params: ParkParams },
        onRequest: requireScope(ctx, 'read'),
      },
      async (request) => {
        const park = await getPark(ctx.db, request.params.parkId);
        const [unitTypes, connections] = await Promise.all([
          listUnitTypes(ctx.db, park.park_id),
          listConnections(ctx.db, park.park_id),
        ]);
        return {
          ...toParkView(park),
          unitTypes: unitTypes.map(toUnitTypeView),
          connections: connections.map((row) => toConnectionView(row, ctx.clock.now())),
        };
      },
    );

    app.put(
      '/parks/:parkId/unit-types/:unitTypeId',
      {
        schema: {
          tags: ['parks'],
          summary: 'Create or replace a unit type (201 when created, 200 when replaced)',
          params: UnitTypeParams,
          body: UnitTypeBody,
        },
        onRequest: requireScope(ctx, 'admin'),
      },
      async (request, reply) => {
        const { parkId, unitTypeId } = request.params;
        const result = await inTransaction(ctx.db, async (trx) => {
          await getPark(trx, parkId, { forUpdate: true });
          const outcome = await putUnitType(trx, parkId, unitTypeId, request.body);
          await recordAudit(trx, {
            actor: actorOf(request),
            action: outcome.created ? 'unit_type.create' : 'unit_type.update',
            parkId,
            details: {
              unitTypeId,
              name: outcome.row.name,
              units: outcome.row.units,
              ...(outcome.previous ? { previous: { name: outcome.previous.name, units: outcome.previous.units } } : {}),
            },
            requestId: request.id,
          });
          return outcome;
        });
        return reply.code(result.created ? 201 : 200).send({ parkId, ...toUnitTypeView(result.row) });
      },
    );
  };
}
