import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import type { DatabaseHandle } from './database.ts';

export const MIGRATIONS_DIR = fileURLToPath(new URL('../../migrations/', import.meta.url));

/** Lock key for pg_advisory_xact_lock, so only one process migrates at a time. */
const MIGRATION_LOCK_KEY = 7_318_004_201;

export interface MigrationResult {
  applied: string[];
  alreadyApplied: number;
}

export async function listMigrations(dir = MIGRATIONS_DIR): Promise<string[]> {
  const names = (await readdir(dir)).filter((name) => /^\d{4}_[a-z0-9_]+\.sql$/.test(name));
  return names.sort();
}

/**
 * Applies the pending SQL migrations in name order, all in one transaction.
 * Each file is recorded in schema_migrations; a failure rolls every step back.
 */
export async function migrate(handle: DatabaseHandle, dir = MIGRATIONS_DIR): Promise<MigrationResult> {
  const files = await listMigrations(dir);
  return handle.runScript(async (exec, query) => {
    await exec(
      'create table if not exists schema_migrations (name text primary key, applied_at timestamptz not null default now())',
    );
    if (handle.kind === 'postgres') {
      await query('select pg_advisory_xact_lock($1)', [MIGRATION_LOCK_KEY]);
    }
    const rows = await query<{ name: string }>('select name from schema_migrations');
    const done = new Set(rows.map((row) => row.name));
    const applied: string[] = [];
    for (const name of files) {
      if (done.has(name)) continue;
      await exec(await readFile(path.join(dir, name), 'utf8'));
      await query('insert into schema_migrations (name) values ($1)', [name]);
      applied.push(name);
    }
    return { applied, alreadyApplied: done.size };
  });
}

/** Lists the migration files not yet applied; readiness fails while any remain. */
export async function pendingMigrations(handle: DatabaseHandle, dir = MIGRATIONS_DIR): Promise<string[]> {
  const files = await listMigrations(dir);
  const rows = await handle.db
    .selectFrom('schema_migrations' as never)
    .select('name' as never)
    .execute()
    .catch(() => [] as { name: string }[]);
  const done = new Set((rows as { name: string }[]).map((row) => row.name));
  return files.filter((name) => !done.has(name));
}
