import { sql } from 'kysely';
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

/**
 * Marks nights as needing delivery to every other enabled connection of the
 * park. Call it in the transaction of the change, so the change and its
 * outbound work commit together. Marking an already dirty night moves its
 * sequence forward, so a burst of changes leaves one mark per night; its
 * marked_at stays, so the backlog age is that of the oldest undelivered change.
 */
export async function markDirty(db: Executor, mark: DirtyMark): Promise<void> {
  if (mark.dates.length === 0) return;
  await sql`
    insert into outbound_dirty (park_id, channel, kind, unit_type_id, date)
    select c.park_id, c.channel, ${mark.kind}, ${mark.unitTypeId}, night.date
    from connections c
    cross join unnest(${mark.dates}::date[]) as night(date)
    where c.park_id = ${mark.parkId}
      and c.enabled
      and c.channel is distinct from ${mark.sourceChannel}
    on conflict (park_id, channel, kind, unit_type_id, date)
    do update set seq = nextval('outbound_dirty_seq')
  `.execute(db);
}

/** Marks nights dirty for one connection only, such as a redrive or a reconcile correction. */
export async function markDirtyForConnection(
  db: Executor,
  target: { parkId: string; channel: string; kind: DirtyKind },
  nights: ReadonlyArray<{ unitTypeId: string; date: string }>,
): Promise<void> {
  if (nights.length === 0) return;
  await sql`
    insert into outbound_dirty (park_id, channel, kind, unit_type_id, date)
    select ${target.parkId}, ${target.channel}, ${target.kind}, night.unit_type_id, night.date
    from unnest(${nights.map((night) => night.unitTypeId)}::text[], ${nights.map((night) => night.date)}::date[]) as night(unit_type_id, date)
    on conflict (park_id, channel, kind, unit_type_id, date)
    do update set seq = nextval('outbound_dirty_seq')
  `.execute(db);
}
