import { randomBytes } from 'node:crypto';
import pg from 'pg';

/**
 * Scratch databases on the local PostgreSQL server. Benchmarks and the
 * reliability suite create one per item and drop it afterwards, so they never
 * touch another database on the server.
 */

/** The maintenance database the scratch databases are created from. BENCH_ADMIN_DATABASE_URL overrides it. */
export const ADMIN_DATABASE_URL = process.env.BENCH_ADMIN_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);

/** Rejects a URL that points at another host: all benchmark traffic stays on this machine. */
export function assertLoopback(url: string): void {
  const host = new URL(url).hostname;
  if (!LOOPBACK_HOSTS.has(host)) throw new Error(`only 127.0.0.1 is allowed, but the URL points at "${host}"`);
}

export function databaseUrlFor(baseUrl: string, database: string): string {
  const url = new URL(baseUrl);
  url.pathname = `/${database}`;
  return url.toString();
}

export interface ScratchDatabase {
  name: string;
  url: string;
  drop(): Promise<void>;
}

async function adminQuery(adminUrl: string, text: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}

/** Scratch databases not dropped yet, so an interrupted run can drop them. */
const liveDatabases = new Set<ScratchDatabase>();

/** Drops every scratch database this process created and has not dropped; for SIGINT handlers. */
export async function dropLiveDatabases(): Promise<void> {
  await Promise.all([...liveDatabases].map((database) => database.drop().catch(() => undefined)));
}

/** Creates an empty database named `<prefix>_<random hex>`; parksync migrates it when it starts. */
export async function createScratchDatabase(prefix = 'parksync_bench', adminUrl = ADMIN_DATABASE_URL): Promise<ScratchDatabase> {
  assertLoopback(adminUrl);
  if (!/^[a-z_][a-z0-9_]{0,40}$/.test(prefix)) throw new Error(`invalid scratch database prefix "${prefix}"`);
  const name = `${prefix}_${randomBytes(5).toString('hex')}`;
  await adminQuery(adminUrl, `create database ${name}`);
  let dropping: Promise<void> | undefined;
  const database: ScratchDatabase = {
    name,
    url: databaseUrlFor(adminUrl, name),
    drop: () => {
      dropping ??= adminQuery(adminUrl, `drop database if exists ${name} with (force)`).finally(() => liveDatabases.delete(database));
      return dropping;
    },
  };
  liveDatabases.add(database);
  return database;
}
