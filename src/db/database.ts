import { mkdirSync } from 'node:fs';
import { PGlite, types as pgliteTypes } from '@electric-sql/pglite';
import { Kysely, PostgresDialect } from 'kysely';
import { PGliteDialect } from 'kysely-pglite-dialect';
import pg from 'pg';
import { preparingPglite } from './pglite-prepared.ts';
import { preparingPool } from './prepared.ts';
import type { Database } from './schema.ts';

export type DatabaseKind = 'postgres' | 'pglite';

/** How to run a multi-statement SQL script inside one transaction. */
export type ScriptRunner = <T>(
  work: (exec: (script: string) => Promise<void>, query: QueryFn) => Promise<T>,
) => Promise<T>;

type QueryFn = <R>(text: string, params?: unknown[]) => Promise<R[]>;

export interface DatabaseHandle {
  kind: DatabaseKind;
  db: Kysely<Database>;
  /** Runs a script transaction through the driver directly: migrations use it. */
  runScript: ScriptRunner;
  close(): Promise<void>;
}

export interface DatabaseOptions {
  databaseUrl?: string | undefined;
  dataDir?: string | undefined;
  /** Most PostgreSQL connections the process opens (at least 2, default 10), three quarters of them for the prepared webhook statements. PGlite has one connection and ignores it. */
  poolSize?: number;
  applicationName?: string;
}

const INT8_OID = 20;
const DATE_OID = 1082;

/**
 * Parses int8 as a JS number. Minor-unit amounts and versions stay far below
 * 2^53; a value beyond that is a fault, so it raises instead of losing precision.
 */
function parseInt8(text: string): number {
  const value = Number(text);
  if (!Number.isSafeInteger(value)) {
    throw new RangeError(`int8 value ${text} is outside the safe integer range`);
  }
  return value;
}

/** Keeps calendar dates as YYYY-MM-DD strings: a Date would shift them by the host timezone. */
const parseDate = (text: string): string => text;

let pgTypesConfigured = false;

function configurePgTypes(): void {
  if (pgTypesConfigured) return;
  pg.types.setTypeParser(INT8_OID, parseInt8);
  pg.types.setTypeParser(DATE_OID, parseDate);
  pgTypesConfigured = true;
}

/** Opens PostgreSQL when a URL is given, otherwise the embedded PGlite database in dataDir. */
export async function openDatabase(options: DatabaseOptions): Promise<DatabaseHandle> {
  if (options.databaseUrl) return openPostgres(options.databaseUrl, options);
  return openPglite(options.dataDir);
}

/**
 * Adds the error listeners a pool needs. A client that loses its server (a restart, a failover)
 * emits 'error', idle in the pool or checked out, and without a listener Node would end the process.
 * The query in progress still fails and the pool replaces the client, so the service answers 503
 * until the server is back.
 */
function listenForErrors(pool: pg.Pool): pg.Pool {
  pool.on('error', () => undefined);
  pool.on('connect', (client) => {
    client.on('error', () => undefined);
  });
  return pool;
}

function openPostgres(url: string, options: DatabaseOptions): DatabaseHandle {
  configurePgTypes();
  // The connections are shared out between the two pools, so a process never opens more than poolSize.
  // Under webhook load nearly every statement is a prepared one, so that pool gets three quarters.
  const poolSize = Math.max(2, options.poolSize ?? 10);
  const genericSize = Math.max(1, Math.floor((poolSize * 3) / 4));
  const poolOptions = { connectionString: url, application_name: options.applicationName ?? 'parksync' };
  const pool = listenForErrors(new pg.Pool({ ...poolOptions, max: poolSize - genericSize }));
  // Connections for the prepared webhook statements that run alone; see preparingPool.
  const genericPool = listenForErrors(new pg.Pool({ ...poolOptions, max: genericSize, options: '-c plan_cache_mode=force_generic_plan' }));
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool: preparingPool(pool, genericPool) }) });

  const runScript: ScriptRunner = async (work) => {
    const client = await pool.connect();
    try {
      await client.query('begin');
      const exec = async (script: string) => {
        // No parameters: node-postgres sends the simple protocol, which allows several statements.
        await client.query(script);
      };
      const query: QueryFn = async (text, params) => (await client.query(text, params)).rows;
      const result = await work(exec, query);
      await client.query('commit');
      return result;
    } catch (error) {
      await client.query('rollback').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  };

  return { kind: 'postgres', db, runScript, close: () => db.destroy() };
}

async function openPglite(dataDir: string | undefined): Promise<DatabaseHandle> {
  if (dataDir && !dataDir.startsWith('memory://')) mkdirSync(dataDir, { recursive: true });
  const client = await PGlite.create(dataDir, {
    parsers: { [pgliteTypes.INT8]: parseInt8, [pgliteTypes.DATE]: parseDate },
  });
  const db = new Kysely<Database>({ dialect: new PGliteDialect(preparingPglite(client)) });

  // PGlite has one connection; going through Kysely's connection keeps this
  // transaction serialised with every other query on the handle.
  const runScript: ScriptRunner = (work) =>
    db.connection().execute(async () =>
      client.transaction(async (tx) => {
        const exec = async (script: string) => {
          await tx.exec(script);
        };
        const query: QueryFn = async (text, params) => (await tx.query(text, params)).rows as never[];
        return work(exec, query);
      }),
    );

  return { kind: 'pglite', db, runScript, close: () => db.destroy() };
}
