import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { ReservationRow } from '../db/schema.ts';
import { AppError, validationError } from '../errors.ts';
import { requireChannelAccess } from '../http/channel-auth.ts';
import type { AppContext } from '../http/context.ts';
import { CalendarDateString, Slug } from '../http/schemas.ts';
import { checkReadRange } from '../inventory/ranges.ts';
import { toReservationView } from '../inventory/reservations.ts';
import { getPark } from '../parks/parks.ts';
import {
  changesFrom,
  decodeCursor,
  encodeCursor,
  MAX_CURSOR_LENGTH,
  PULL_KINDS,
  type AvailabilityKey,
  type ChangePosition,
  type PullKind,
  type RangeCursor,
  type RangeKey,
  type RateKey,
  type ReservationKey,
} from './cursor.ts';
import {
  readAvailabilityChanges,
  readAvailabilityRange,
  readHorizon,
  readRateChanges,
  readRateRange,
  readReservationChanges,
  readReservationRange,
  type FeedPage,
} from './queries.ts';

export const DEFAULT_PULL_LIMIT = 100;
export const MAX_PULL_LIMIT = 1000;

const PullParams = Type.Object({ channel: Slug('Channel') });

const PullQuery = Type.Object(
  {
    parkId: Slug('Park id'),
    from: Type.Optional(CalendarDateString('First night of a range read; give to as well')),
    to: Type.Optional(CalendarDateString('Last night of a range read, inclusive; at most 750 nights after from')),
    sinceCursor: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: MAX_CURSOR_LENGTH,
        description: 'nextCursor or changesCursor of an earlier response, in place of from and to',
      }),
    ),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_PULL_LIMIT, default: DEFAULT_PULL_LIMIT })),
  },
  { additionalProperties: false },
);

const SUMMARIES: Record<PullKind, string> = {
  availability: 'Pull availability, one item per unit type and night, by date range or by change cursor',
  rates: 'Pull stored rates, one item per unit type, rate plan and night, by date range or by change cursor',
  reservations: 'Pull reservations (cancellations included) by stay range or by change cursor',
};

/** Builds a reservation item for `channel`, with guest personal data only on that channel's own reservations. */
function reservationItem(row: ReservationRow, channel: string) {
  const { guest, ...view } = toReservationView(row);
  return row.channel === channel ? { ...view, guest } : view;
}

interface PullResponse {
  items: unknown[];
  nextCursor: string | null;
  changesCursor?: string;
}

interface PullRequest {
  kind: PullKind;
  park: { park_id: string; currency: string };
  channel: string;
  limit: number;
}

/** A range page with the sort key of its last item, which the next cursor pages on from. */
interface KeyedPage {
  items: unknown[];
  more: boolean;
  lastKey: RangeKey | null;
}

// decodeCursor reads `after` by the cursor's kind, and the kind matches the route, so the casts below hold.
async function readRangePage(ctx: AppContext, pull: PullRequest, cursor: RangeCursor): Promise<KeyedPage> {
  const read = { from: cursor.from, to: cursor.to, limit: pull.limit };
  switch (pull.kind) {
    case 'availability': {
      const page = await readAvailabilityRange(ctx.db, pull.park.park_id, { ...read, after: cursor.after as AvailabilityKey | null });
      const last = page.items.at(-1);
      return { ...page, lastKey: last ? { unitTypeId: last.unitTypeId, date: last.date } : null };
    }
    case 'rates': {
      const page = await readRateRange(ctx.db, pull.park, { ...read, after: cursor.after as RateKey | null });
      const last = page.items.at(-1);
      return { ...page, lastKey: last ? { unitTypeId: last.unitTypeId, ratePlanId: last.ratePlanId, date: last.date } : null };
    }
    case 'reservations': {
      const page = await readReservationRange(ctx.db, pull.park.park_id, { ...read, after: cursor.after as ReservationKey | null });
      const last = page.items.at(-1);
      return {
        items: page.items.map((row) => reservationItem(row, pull.channel)),
        more: page.more,
        lastKey: last ? { arrival: last.arrival, reservationKey: last.reservation_key } : null,
      };
    }
  }
}

/**
 * Reads one page of a range. The next cursor pages on from the last item's
 * sort key. When the range is done, changesCursor starts the change feed at
 * the horizon taken before the range's first page, so every change that
 * committed after that moment comes through the feed.
 */
async function pullRange(ctx: AppContext, pull: PullRequest, cursor: RangeCursor): Promise<PullResponse> {
  const page = await readRangePage(ctx, pull, cursor);
  if (page.more && page.lastKey !== null) {
    return { items: page.items, nextCursor: encodeCursor({ ...cursor, after: page.lastKey }) };
  }
  const scope = { kind: pull.kind, parkId: pull.park.park_id, channel: pull.channel };
  return {
    items: page.items,
    nextCursor: null,
    changesCursor: encodeCursor({ ...scope, mode: 'changes', position: changesFrom(cursor.horizon) }),
  };
}

/** Reads one page of the change feed. The next cursor is the last item's position, or the same one when nothing is new. */
async function pullChanges(ctx: AppContext, pull: PullRequest, position: ChangePosition): Promise<PullResponse> {
  let page: FeedPage<unknown>;
  switch (pull.kind) {
    case 'availability':
      page = await readAvailabilityChanges(ctx.db, pull.park.park_id, position, pull.limit);
      break;
    case 'rates':
      page = await readRateChanges(ctx.db, pull.park, position, pull.limit);
      break;
    case 'reservations': {
      const rows = await readReservationChanges(ctx.db, pull.park.park_id, position, pull.limit);
      page = { items: rows.items.map((row) => reservationItem(row, pull.channel)), last: rows.last };
      break;
    }
  }
  const scope = { kind: pull.kind, parkId: pull.park.park_id, channel: pull.channel };
  return { items: page.items, nextCursor: encodeCursor({ ...scope, mode: 'changes', position: page.last ?? position }) };
}

/** Registers GET /channels/{channel}/availability, /rates and /reservations, which channels poll. */
export function pullRoutes(ctx: AppContext): FastifyPluginAsync {
  return async (base) => {
    const app = base.withTypeProvider<TypeBoxTypeProvider>();

    for (const kind of PULL_KINDS) {
      app.get(
        `/channels/:channel/${kind}`,
        {
          schema: { tags: ['pull'], summary: SUMMARIES[kind], params: PullParams, querystring: PullQuery },
          onRequest: requireChannelAccess(ctx),
        },
        async (request): Promise<PullResponse> => {
          const { channel } = request.params;
          const { parkId, from, to, sinceCursor, limit = DEFAULT_PULL_LIMIT } = request.query;
          const park = await getPark(ctx.db, parkId);
          const pull: PullRequest = { kind, park, channel, limit };

          if (sinceCursor !== undefined) {
            if (from !== undefined || to !== undefined) {
              throw validationError([
                { field: from !== undefined ? 'query:from' : 'query:to', message: 'send either from and to, or sinceCursor, not both' },
              ]);
            }
            const decoded = decodeCursor(sinceCursor, { kind, parkId, channel });
            if (!decoded.ok) throw new AppError('invalid_cursor', `sinceCursor ${decoded.reason}.`);
            const cursor = decoded.cursor;
            return cursor.mode === 'range' ? pullRange(ctx, pull, cursor) : pullChanges(ctx, pull, cursor.position);
          }

          if (from === undefined || to === undefined) {
            throw validationError([
              { field: from === undefined ? 'query:from' : 'query:to', message: 'is required: send from and to, or sinceCursor' },
            ]);
          }
          const errors = checkReadRange(from, to);
          if (errors.length > 0) throw validationError(errors);
          // The horizon is taken before the first page is read, so changesCursor covers every change the range might miss.
          const horizon = await readHorizon(ctx.db);
          return pullRange(ctx, pull, { kind, parkId, channel, mode: 'range', from, to, horizon, after: null });
        },
      );
    }
  };
}
