import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';
import { openDatabase, type DatabaseHandle } from '../../src/db/database.ts';
import { migrate } from '../../src/db/migrate.ts';
import { databaseUrlFor, TEMPLATE_ENV } from './postgres-template.ts';

export type TestDatabaseKind = 'pglite' | 'postgres';

export function testDatabaseKind(): TestDatabaseKind {
  return process.env.PARKSYNC_TEST_DB === 'postgres' ? 'postgres' : 'pglite';
}

export interface TestDatabase {
  handle: DatabaseHandle;
  /** The PostgreSQL URL of this file's database; undefined on PGlite. */
  url: string | undefined;
  drop(): Promise<void>;
}

/** SQLSTATE object_in_use: a backend that just disconnected from the template may linger for a moment. */
const OBJECT_IN_USE = '55006';

async function cloneTemplate(base: string, name: string, template: string): Promise<void> {
  const admin = new pg.Client({ connectionString: base });
  await admin.connect();
  try {
    for (let attempt = 1; ; attempt += 1) {
      try {
        await admin.query(`create database ${name} template ${template}`);
        return;
      } catch (error) {
        if ((error as { code?: string }).code !== OBJECT_IN_USE || attempt >= 50) throw error;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  } finally {
    await admin.end();
  }
}

/**
 * A fresh, migrated database for one test file: an in-memory PGlite, or a
 * PostgreSQL database cloned from the run's template (much faster than migrating).
 */
export async function createTestDatabase(): Promise<TestDatabase> {
  if (testDatabaseKind() === 'pglite') {
    const handle = await openDatabase({ dataDir: 'memory://' });
    await migrate(handle);
    return { handle, url: undefined, drop: () => handle.close() };
  }
  const base = process.env.DATABASE_URL;
  const template = (inject as unknown as (key: string) => string | undefined)(TEMPLATE_ENV) ?? process.env[TEMPLATE_ENV];
  if (!base || !template) throw new Error('postgres tests need DATABASE_URL and the template from global setup');
  const name = `parksync_t_${randomBytes(6).toString('hex')}`;
  await cloneTemplate(base, name, template);
  const url = databaseUrlFor(base, name);
  const handle = await openDatabase({ databaseUrl: url, poolSize: 20 });
  return {
    handle,
    url,
    drop: async () => {
      await handle.close();
      const cleanup = new pg.Client({ connectionString: base });
      await cleanup.connect();
      await cleanup.query(`drop database if exists ${name} with (force)`);
      await cleanup.end();
    },
  };
}
