import { randomBytes } from 'node:crypto';
import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { recordAudit } from '../audit/audit.ts';
import { inTransaction } from '../db/transaction.ts';
import { AppError, validationError } from '../errors.ts';
import { actorOf, requireScope } from '../http/auth.ts';
import type { AppContext } from '../http/context.ts';
import { CalendarDateString, ParkParams, Slug } from '../http/schemas.ts';
import { todayIn } from '../lib/dates.ts';
import { getPark, listUnitTypes } from '../parks/parks.ts';
import { applyAvailability, checkAvailabilityUpdates, readAvailability } from './availability.ts';
import { checkReadRange } from './ranges.ts';
import { applyRates, parseRateUpdates, readRates } from './rates.ts';
import { applyReservation, checkReservation, toReservationView } from './reservations.ts';
import {
  AvailabilityUpdatesSchema,
  CurrencySchema,
  RateUpdatesSchema,
  ReservationIdSchema,
  reservationFields,
} from './schemas.ts';

/** Channel name of reservations made on the park side. */
export const DIRECT_CHANNEL = 'direct';

const RangeQuery = Type.Object(
  {
    unitTypeId: Type.Optional(Slug('Unit type id')),
    from: CalendarDateString('First night'),
    to: CalendarDateString('Last night, inclusive'),
  },
  { additionalProperties: false },
);

const DirectReservationBody = Type.Object(
  {
    parkId: Type.Optional(Slug('Park id; when given it must match the path')),
    reservationId: Type.Optional(ReservationIdSchema),
    ...reservationFields,
  },
  { additionalProperties: false },
);

async function unitTypeIdsOf(ctx: AppContext, parkId: string): Promise<Set<string>> {
  return new Set((await listUnitTypes(ctx.db, parkId)).map((row) => row.unit_type_id));
}

export function inventoryRoutes(ctx: AppContext): FastifyPluginAsync {
  return async (base) => {
    const app = base.withTypeProvider<TypeBoxTypeProvider>();

    app.post(
      '/parks/:parkId/availability',
      {
        schema: {
          tags: ['inventory'],
          summary: 'Set allotment and restrictions over date ranges',
          params: ParkParams,
          body: Type.Object({ updates: AvailabilityUpdatesSchema }, { additionalProperties: false }),
        },
        onRequest: requireScope(ctx, 'ops'),
      },
      async (request) => {
        const { parkId } = request.params;
        const now = ctx.clock.now();
        const park = await getPark(ctx.db, parkId);
        checkAvailabilityUpdates(request.body.updates, await unitTypeIdsOf(ctx, parkId), todayIn(park.timezone, now));
        const result = await inTransaction(ctx.db, async (trx) => {
          const applied = await applyAvailability(trx, parkId, request.body.updates, { sourceChannel: null, now });
          await recordAudit(trx, {
            actor: actorOf(request),
            action: 'availability.set',
            parkId,
            details: { updates: request.body.updates.length, nights: applied.nights, conflicts: applied.conflicts.length },
            requestId: request.id,
          });
          return applied;
        });
        return { status: result.conflicts.length > 0 ? 'conflict' : 'applied', ...result };
      },
    );

    app.get(
      '/parks/:parkId/availability',
      {
        schema: { tags: ['inventory'], summary: 'Read availability, one item per night', params: ParkParams, querystring: RangeQuery },
        onRequest: requireScope(ctx, 'read'),
      },
      async (request) => {
        const { parkId } = request.params;
        await getPark(ctx.db, parkId);
        const errors = checkReadRange(request.query.from, request.query.to);
        if (errors.length > 0) throw validationError(errors);
        if (request.query.unitTypeId && !(await unitTypeIdsOf(ctx, parkId)).has(request.query.unitTypeId)) {
          throw new AppError('unit_type_not_found', `Unit type "${request.query.unitTypeId}" does not exist in park "${parkId}".`);
        }
        return { items: await readAvailability(ctx.db, parkId, request.query) };
      },
    );

    app.post(
      '/parks/:parkId/rates',
      {
        schema: {
          tags: ['inventory'],
          summary: 'Set nightly rates over date ranges, in the park currency',
          params: ParkParams,
          body: Type.Object({ currency: CurrencySchema, updates: RateUpdatesSchema }, { additionalProperties: false }),
        },
        onRequest: requireScope(ctx, 'ops'),
      },
      async (request) => {
        const { parkId } = request.params;
        const now = ctx.clock.now();
        const park = await getPark(ctx.db, parkId);
        const updates = parseRateUpdates(request.body, park, await unitTypeIdsOf(ctx, parkId), todayIn(park.timezone, now));
        const result = await inTransaction(ctx.db, async (trx) => {
          const applied = await applyRates(trx, parkId, updates, { sourceChannel: null, now });
          await recordAudit(trx, {
            actor: actorOf(request),
            action: 'rates.set',
            parkId,
            details: { updates: updates.length, nights: applied.nights },
            requestId: request.id,
          });
          return applied;
        });
        return { status: 'applied', ...result };
      },
    );

    app.get(
      '/parks/:parkId/rates',
      {
        schema: { tags: ['inventory'], summary: 'Read stored rates, one item per night and rate plan', params: ParkParams, querystring: RangeQuery },
        onRequest: requireScope(ctx, 'read'),
      },
      async (request) => {
        const park = await getPark(ctx.db, request.params.parkId);
        const errors = checkReadRange(request.query.from, request.query.to);
        if (errors.length > 0) throw validationError(errors);
        return { items: await readRates(ctx.db, park, request.query) };
      },
    );

    app.post(
      '/parks/:parkId/reservations',
      {
        schema: {
          tags: ['inventory'],
          summary: 'Create or update a direct reservation (201 created, 200 updated, 409 overbooked)',
          params: ParkParams,
          body: DirectReservationBody,
        },
        onRequest: requireScope(ctx, 'ops'),
      },
      async (request, reply) => {
        const { parkId } = request.params;
        const body = request.body;
        if (body.parkId !== undefined && body.parkId !== parkId) {
          throw validationError([{ field: 'parkId', message: `must match the park in the path (${parkId}) or be left out` }]);
        }
        const now = ctx.clock.now();
        const park = await getPark(ctx.db, parkId);
        const input = { ...body, reservationId: body.reservationId ?? `dir-${randomBytes(6).toString('hex')}` };
        const totalMinor = checkReservation(input, await unitTypeIdsOf(ctx, parkId), park.currency, todayIn(park.timezone, now));
        const result = await inTransaction(ctx.db, async (trx) => {
          const applied = await applyReservation(trx, parkId, DIRECT_CHANNEL, input, totalMinor, {
            sourceChannel: DIRECT_CHANNEL,
            currency: park.currency,
            now,
          });
          await recordAudit(trx, {
            actor: actorOf(request),
            action: `reservation.${applied.outcome}`,
            parkId,
            channel: DIRECT_CHANNEL,
            details: { reservationId: input.reservationId, status: input.status, arrival: input.arrival, departure: input.departure },
            requestId: request.id,
          });
          return applied;
        });
        return reply
          .code(result.outcome === 'created' ? 201 : 200)
          .send({ outcome: result.outcome, ...toReservationView(result.reservation) });
      },
    );

    app.get(
      '/parks/:parkId/reservations/:channel/:reservationId',
      {
        schema: {
          tags: ['inventory'],
          summary: 'Read one reservation by its channel and id',
          params: Type.Object({ parkId: Slug('Park id'), channel: Slug('Channel'), reservationId: ReservationIdSchema }),
        },
        onRequest: requireScope(ctx, 'read'),
      },
      async (request) => {
        const { parkId, channel, reservationId } = request.params;
        const row = await ctx.db
          .selectFrom('reservations')
          .selectAll()
          .where('park_id', '=', parkId)
          .where('channel', '=', channel)
          .where('reservation_id', '=', reservationId)
          .executeTakeFirst();
        if (!row) throw new AppError('reservation_not_found', `Park "${parkId}" has no reservation "${reservationId}" from ${channel}.`);
        return toReservationView(row);
      },
    );
  };
}
