import { sql, type RawBuilder } from 'kysely';
import type { Executor } from '../audit/audit.ts';

export type DirtyKind = 'availability' | 'rates';

export interface DirtyMark {
  parkId: string;
  kind: DirtyKind;
  unitTypeId: string;
  dates: string[];
  /** The channel the change came from; it is not sent its own change back. Null for park-side changes. */
  sourceChannel: string | null;
}

/** The mark without its nights, for a statement that takes the nights from elsewhere. */
export type DirtyTarget = Omit<DirtyMark, 'dates'>;

/**
 * Builds the statement that marks the nights of `nights` (a FROM item named
 * `night` with a `date` column) dirty for every other enabled connection of
 * the park. It can run as a common table expression of the statement that
 * wrote the nights, which saves a round trip.
 */
export function markDirtyStatement(mark: DirtyTarget, nights: RawBuilder<unknown>): RawBuilder<unknown> {
  return sql`
    insert into outbound_dirty (park_id, channel, kind, unit_type_id, date)
    select c.park_id, c.channel, ${mark.kind}, ${mark.unitTypeId}, night.date
    from connections c
    cross join ${nights}
    where c.park_id = ${mark.parkId}
      and c.enabled
      and c.channel is distinct from ${mark.sourceChannel}
    on conflict (park_id, channel, kind, unit_type_id, date)
    do update set seq = nextval('outbound_dirty_seq')`;
}

/**
 * Marks nights as needing delivery to every other enabled connection of the
 * park. Call it in the transaction of the change, so the change and its
 * outbound work commit together. Marking an already dirty night moves its
 * sequence forward, so a burst of changes leaves one mark per night; its
 * marked_at stays, so the backlog age is that of the oldest undelivered change.
 */
export async function markDirty(db: Executor, mark: DirtyMark): Promise<void> {
  if (mark.dates.length === 0) return;
  await markDirtyStatement(mark, sql`unnest(${mark.dates}::date[]) as night(date)`).execute(db);
}

/** Builds the statement that marks nights (a FROM item named `night` with unit_type_id and date columns) dirty for one connection. */
export function markDirtyForConnectionStatement(
  target: { parkId: string; channel: string; kind: DirtyKind },
  nights: RawBuilder<unknown>,
): RawBuilder<unknown> {
  return sql`
    insert into outbound_dirty (park_id, channel, kind, unit_type_id, date)
    select ${target.parkId}, ${target.channel}, ${target.kind}, night.unit_type_id, night.date
    from ${nights}
    on conflict (park_id, channel, kind, unit_type_id, date)
    do update set seq = nextval('outbound_dirty_seq')`;
}

/** Marks nights dirty for one connection only, such as a redrive or a reconcile correction. */
export async function markDirtyForConnection(
  db: Executor,
  target: { parkId: string; channel: string; kind: DirtyKind },
  nights: ReadonlyArray<{ unitTypeId: string; date: string }>,
): Promise<void> {
  if (nights.length === 0) return;
  const rows = sql`unnest(${nights.map((night) => night.unitTypeId)}::text[], ${nights.map((night) => night.date)}::date[]) as night(unit_type_id, date)`;
  await markDirtyForConnectionStatement(target, rows).execute(db);
}
