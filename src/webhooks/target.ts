import { sql } from 'kysely';
import type { Executor } from '../audit/audit.ts';
import type { ConnectionRow, ParkRow } from '../db/schema.ts';

/** What a webhook is checked and applied against: its connection, the park, and the park's unit types. */
export interface WebhookTarget {
  connection: ConnectionRow;
  park: ParkRow;
  unitTypeIds: ReadonlySet<string>;
}

/**
 * Loads the connection, its park and the park's unit type ids in one round
 * trip, since every webhook needs all three. Returns undefined when the park
 * has no connection to the channel.
 */
export async function loadWebhookTarget(db: Executor, parkId: string, channel: string): Promise<WebhookTarget | undefined> {
  const row = await db
    .selectFrom('connections as c')
    .innerJoin('parks as p', 'p.park_id', 'c.park_id')
    .selectAll('c')
    .select([
      'p.name as park_name',
      'p.timezone as park_timezone',
      'p.currency as park_currency',
      'p.created_at as park_created_at',
      'p.updated_at as park_updated_at',
    ])
    .select(sql<string[]>`array(select u.unit_type_id from unit_types u where u.park_id = c.park_id)`.as('unit_type_ids'))
    .where('c.park_id', '=', parkId)
    .where('c.channel', '=', channel)
    .executeTakeFirst();
  if (!row) return undefined;
  const { park_name, park_timezone, park_currency, park_created_at, park_updated_at, unit_type_ids, ...connection } = row;
  return {
    connection,
    park: {
      park_id: connection.park_id,
      name: park_name,
      timezone: park_timezone,
      currency: park_currency,
      created_at: park_created_at,
      updated_at: park_updated_at,
    },
    unitTypeIds: new Set(unit_type_ids),
  };
}
