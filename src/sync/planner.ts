import { sql } from 'kysely';
import { adapterFor } from '../channels/adapters/index.ts';
import { inTransaction } from '../db/transaction.ts';
import { sqlState, SQLSTATE } from '../errors.ts';
import type { AppContext } from '../http/context.ts';
import { addDays, daysBetween } from '../lib/dates.ts';
import { buildAvailabilityPayload, buildRatesPayload, type BuiltPayload, type DirtyCell } from './payloads.ts';
import type { CellRange } from './ranges.ts';

/** Most dirty nights read for one delivery; the ranges they bundle into are then trimmed to the adapter's limits. */
export const MAX_CELLS_PER_DELIVERY = 50_000;
/** Connections planned per pass, so one pass stays short. */
const CONNECTIONS_PER_PASS = 50;

/** One connection and kind: the unit the planner builds one delivery for. */
export interface PlanGroup {
  park_id: string;
  channel: string;
  kind: 'availability' | 'rates';
}

/** Keeps the leading ranges that fit the adapter's range count and body size. */
function trimToLimits(payload: BuiltPayload, maxRanges: number, maxBytes: number): Array<CellRange<unknown>> {
  let count = Math.min(payload.ranges.length, maxRanges);
  while (count > 1 && Buffer.byteLength(JSON.stringify(payload.render(payload.ranges.slice(0, count)))) > maxBytes) {
    count = Math.floor(count / 2);
  }
  return payload.ranges.slice(0, count);
}

/** The dirty nights fully covered by the kept ranges; a night also in a dropped range stays dirty. */
function coveredCells(cells: readonly DirtyCell[], dropped: ReadonlyArray<CellRange<unknown>>): DirtyCell[] {
  const uncovered = new Set<string>();
  for (const range of dropped) {
    const unitTypeId = range.group.split('\u0000')[0];
    for (let offset = 0; offset <= daysBetween(range.from, range.to); offset += 1) {
      uncovered.add(`${unitTypeId}|${addDays(range.from, offset)}`);
    }
  }
  return cells.filter((cell) => !uncovered.has(`${cell.unitTypeId}|${cell.date}`));
}

/**
 * Turns one connection's dirty nights of one kind into a delivery, in one
 * transaction: the nights are locked, their current state is read and bundled,
 * the delivery is inserted and the marks it covers are removed. A mark moved
 * forward meanwhile keeps its row, so that change goes out in the next delivery.
 * Returns the new delivery id, or undefined when there was nothing to send.
 */
async function planGroup(ctx: AppContext, group: PlanGroup): Promise<string | undefined> {
  return inTransaction(ctx.db, async (trx) => {
    const connection = await trx
      .selectFrom('connections')
      .selectAll()
      .where('park_id', '=', group.park_id)
      .where('channel', '=', group.channel)
      .executeTakeFirst();
    if (!connection || !connection.enabled || connection.paused || !connection.endpoint_url) return undefined;
    const park = await trx.selectFrom('parks').select(['park_id', 'currency']).where('park_id', '=', group.park_id).executeTakeFirstOrThrow();

    const marks = await trx
      .selectFrom('outbound_dirty')
      .select(['unit_type_id', 'date', 'seq'])
      .where('park_id', '=', group.park_id)
      .where('channel', '=', group.channel)
      .where('kind', '=', group.kind)
      .orderBy('unit_type_id')
      .orderBy('date')
      .limit(MAX_CELLS_PER_DELIVERY)
      .forUpdate()
      .skipLocked()
      .execute();
    if (marks.length === 0) return undefined;
    const cells: DirtyCell[] = marks.map((mark) => ({ unitTypeId: mark.unit_type_id, date: mark.date, seq: mark.seq }));

    const adapter = adapterFor(connection.adapter);
    const payload =
      group.kind === 'availability'
        ? await buildAvailabilityPayload(trx, group.park_id, cells)
        : await buildRatesPayload(trx, { parkId: park.park_id, currency: park.currency }, cells);
    const kept = trimToLimits(payload, adapter.maxRangesPerRequest, adapter.maxBodyBytes);
    const sent = coveredCells(cells, payload.ranges.slice(kept.length));

    let deliveryId: string | undefined;
    if (kept.length > 0) {
      const inserted = await sql<{ delivery_id: string }>`
        insert into outbound_deliveries (park_id, channel, kind, version, payload, high_seq, cells, next_attempt_at, created_at, updated_at)
        values (${group.park_id}, ${group.channel}, ${group.kind}, nextval('outbound_version_seq'),
          ${JSON.stringify(payload.render(kept))}::jsonb, ${sent.reduce((high, cell) => Math.max(high, cell.seq), 0)}, ${sent.length},
          ${ctx.clock.now()}, ${ctx.clock.now()}, ${ctx.clock.now()})
        returning delivery_id
      `.execute(trx);
      deliveryId = inserted.rows[0]?.delivery_id;
    }
    await sql`
      delete from outbound_dirty d
      using unnest(${sent.map((cell) => cell.unitTypeId)}::text[], ${sent.map((cell) => cell.date)}::date[],
                   ${sent.map((cell) => cell.seq)}::bigint[]) as done(unit_type_id, date, seq)
      where d.park_id = ${group.park_id} and d.channel = ${group.channel} and d.kind = ${group.kind}
        and d.unit_type_id = done.unit_type_id and d.date = done.date and d.seq = done.seq
    `.execute(trx);
    return deliveryId;
  });
}

/**
 * Builds deliveries for connections that have dirty nights and no open
 * delivery of that kind, leaving out the groups in `skip`. Returns the groups
 * a delivery was created for.
 */
export async function planDeliveries(ctx: AppContext, skip: readonly PlanGroup[] = []): Promise<PlanGroup[]> {
  const groups = await sql<PlanGroup>`
    select distinct d.park_id, d.channel, d.kind
    from outbound_dirty d
    join connections c on c.park_id = d.park_id and c.channel = d.channel
    where c.enabled and not c.paused and c.endpoint_url is not null
      and not exists (
        select 1 from outbound_deliveries o
        where o.park_id = d.park_id and o.channel = d.channel and o.kind = d.kind and o.state in ('pending', 'in_flight'))
      and (d.park_id, d.channel, d.kind) not in (
        select * from unnest(${skip.map((group) => group.park_id)}::text[], ${skip.map((group) => group.channel)}::text[],
                             ${skip.map((group) => group.kind)}::text[]))
    limit ${CONNECTIONS_PER_PASS}
  `.execute(ctx.db);
  const created: PlanGroup[] = [];
  for (const group of groups.rows) {
    try {
      if (await planGroup(ctx, group)) created.push(group);
    } catch (error) {
      // Another worker planned this connection at the same moment; its delivery covers the marks.
      if (sqlState(error) === SQLSTATE.uniqueViolation) continue;
      throw error;
    }
  }
  return created;
}
