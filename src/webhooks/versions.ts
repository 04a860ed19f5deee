import { sql, type RawBuilder } from 'kysely';
import type { Executor } from '../audit/audit.ts';
import { AppError } from '../errors.ts';

export type VersionedKind = 'availability' | 'rates' | 'reservations';

/**
 * Builds the statement that records `version` for each of `keys` (distinct) where
 * the entity has a lower version or none, returning the keys it wrote.
 * Fewer rows than keys means the request's version is refused.
 */
export function advanceVersionsStatement(
  scope: { channel: string; parkId: string; kind: VersionedKind },
  keys: readonly string[],
  version: number,
  now: Date,
): RawBuilder<{ entity_key: string }> {
  return sql<{ entity_key: string }>`
    insert into entity_versions as v (channel, park_id, kind, entity_key, version, updated_at)
    select ${scope.channel}, ${scope.parkId}, ${scope.kind}, key, ${version}, ${now}
    from unnest(${keys}::text[]) as key
    on conflict (channel, park_id, kind, entity_key) do update
      set version = excluded.version, updated_at = excluded.updated_at
      where v.version < excluded.version
    returning v.entity_key`;
}

/**
 * Records `version` for every entity of a request, or raises 409 when any of
 * them already holds a version at least as high. One statement upserts all
 * keys with a guard, so concurrent requests serialise on the rows they share;
 * a rejection raises inside the caller's transaction, which rolls back every
 * key this request did write.
 */
export async function advanceVersions(
  db: Executor,
  scope: { channel: string; parkId: string; kind: VersionedKind },
  entityKeys: readonly string[],
  version: number,
  now: Date,
): Promise<void> {
  const keys = [...new Set(entityKeys)];
  if (keys.length === 0) return;
  const written = await advanceVersionsStatement(scope, keys, version, now).execute(db);
  if (written.rows.length === keys.length) return;

  const writtenKeys = new Set(written.rows.map((row) => row.entity_key));
  const blocked = await db
    .selectFrom('entity_versions')
    .select(['entity_key', 'version'])
    .where('channel', '=', scope.channel)
    .where('park_id', '=', scope.parkId)
    .where('kind', '=', scope.kind)
    .where('entity_key', 'in', keys.filter((key) => !writtenKeys.has(key)).slice(0, 1000))
    .execute();
  const newer = blocked.filter((row) => row.version > version);
  const same = blocked.filter((row) => row.version === version);
  const sample = (rows: typeof blocked) => rows.slice(0, 20).map((row) => ({ entity: row.entity_key, version: row.version }));
  if (newer.length > 0) {
    throw new AppError(
      'stale_version',
      `X-Version ${version} is older than what ${newer.length} entit${newer.length === 1 ? 'y holds' : 'ies hold'}; nothing was applied.`,
      { extensions: { version, entities: sample(newer) } },
    );
  }
  throw new AppError(
    'version_conflict',
    `X-Version ${version} was already applied to ${same.length} entit${same.length === 1 ? 'y' : 'ies'}; send a higher version for a new change.`,
    { extensions: { version, entities: sample(same) } },
  );
}
