import pg from 'pg';
import { openDatabase } from '../../src/db/database.ts';
import { migrate } from '../../src/db/migrate.ts';

/** Name of the migrated database each test file clones; unique per run so parallel runs do not collide. */
export const TEMPLATE_ENV = 'PARKSYNC_TEST_TEMPLATE';

export function databaseUrlFor(base: string, database: string): string {
  const url = new URL(base);
  url.pathname = `/${database}`;
  return url.toString();
}

async function adminQuery(base: string, text: string): Promise<void> {
  const client = new pg.Client({ connectionString: base });
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}

/** Vitest global setup: migrate a template database once for the whole run, and drop it afterwards. */
export default async function setup({ provide }: { provide?: (key: string, value: string) => void }) {
  const base = process.env.DATABASE_URL;
  if (!base) throw new Error('DATABASE_URL must be set for the postgres test project');
  const template = `parksync_tpl_${process.pid}_${Date.now().toString(36)}`;
  await adminQuery(base, `create database ${template}`);
  const handle = await openDatabase({ databaseUrl: databaseUrlFor(base, template) });
  await migrate(handle);
  await handle.close();
  process.env[TEMPLATE_ENV] = template;
  provide?.(TEMPLATE_ENV, template);
  return async () => {
    await adminQuery(base, `drop database if exists ${template} with (force)`);
  };
}
