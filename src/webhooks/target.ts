import { sql, type RawBuilder } from 'kysely';
import type { Executor } from '../audit/audit.ts';
import type { ConnectionRow, ParkRow } from '../db/schema.ts';

/** What a webhook is checked and applied against: its connection, the park, and the park's unit types. */
export interface WebhookTarget {
  connection: ConnectionRow;
  park: ParkRow;
  unitTypeIds: ReadonlySet<string>;
  /** The stamp (targetStamp) of the rows this target was loaded from. */
  stamp: string;
}

/**
 * Builds an expression that changes whenever the webhook target of (park,
 * channel) would load differently: the row versions (xmin) of the connection
 * and the park, and the count of unit types, which are never deleted. It is
 * null when the connection does not exist. one-statement-sql.ts repeats the
 * expression with positional parameters; if the two differ, every cached
 * target looks stale and test/webhooks-one-statement.test.ts fails.
 */
export function targetStamp(parkId: string, channel: string): RawBuilder<string | null> {
  return sql<string | null>`(select c.xmin::text || '/' || p.xmin::text || '/' || (select count(*) from unit_types u where u.park_id = p.park_id)
    from connections c join parks p on p.park_id = c.park_id
    where c.park_id = ${parkId} and c.channel = ${channel})`;
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
    .select(targetStamp(parkId, channel).as('stamp'))
    .where('c.park_id', '=', parkId)
    .where('c.channel', '=', channel)
    .executeTakeFirst();
  if (!row) return undefined;
  const { park_name, park_timezone, park_currency, park_created_at, park_updated_at, unit_type_ids, stamp, ...connection } = row;
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
    stamp: stamp ?? '',
  };
}

/** Most targets a process keeps; past this the oldest is dropped. */
const MAX_CACHED_TARGETS = 10_000;

/**
 * Webhook targets this process loaded, by park and channel. A cached target
 * saves the first round trip of a webhook, but is only trusted once the
 * admission statement has returned the same stamp, so a paused, rotated or
 * retuned connection takes effect on the next request.
 */
export class WebhookTargetCache {
  readonly #targets = new Map<string, WebhookTarget>();

  get(parkId: string, channel: string): WebhookTarget | undefined {
    return this.#targets.get(`${parkId}/${channel}`);
  }

  set(parkId: string, channel: string, target: WebhookTarget): void {
    const key = `${parkId}/${channel}`;
    this.#targets.delete(key);
    if (this.#targets.size >= MAX_CACHED_TARGETS) {
      const oldest = this.#targets.keys().next().value;
      if (oldest !== undefined) this.#targets.delete(oldest);
    }
    this.#targets.set(key, target);
  }

  forget(parkId: string, channel: string): void {
    this.#targets.delete(`${parkId}/${channel}`);
  }
}
