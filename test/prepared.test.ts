import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PGlite } from '@electric-sql/pglite';
import { PGliteDialect } from 'kysely-pglite-dialect';
import { loadConfig } from '../src/config.ts';
import { openDatabase } from '../src/db/database.ts';
import { preparingPglite } from '../src/db/pglite-prepared.ts';
import { prepared, preparingPool } from '../src/db/prepared.ts';
import { createTestDatabase, testDatabaseKind, type TestDatabase } from './helpers/database.ts';

let database: TestDatabase;

beforeAll(async () => {
  database = await createTestDatabase();
});

afterAll(async () => {
  await database.drop();
});

describe.runIf(testDatabaseKind() === 'postgres')('preparingPool', () => {
  it('prepares marked statements only, once per connection', async () => {
    const pool = new pg.Pool({ connectionString: database.url, max: 1 });
    const db = new Kysely<Record<string, never>>({ dialect: new PostgresDialect({ pool: preparingPool(pool) }) });
    try {
      for (let run = 0; run < 3; run += 1) {
        await prepared(sql`select ${run}::integer + 1 as marked`).execute(db);
        await sql`select ${run}::integer + 2 as plain`.execute(db);
      }
      const statements = await sql<{ statement: string }>`select statement from pg_prepared_statements`.execute(db);
      expect(statements.rows.map((row) => row.statement)).toEqual(['/* prepared */ select $1::integer + 1 as marked']);
    } finally {
      await db.destroy();
    }
  });

  it('routes lone marked statements to the generic pool', async () => {
    const pool = new pg.Pool({ connectionString: database.url, max: 1, application_name: 'parksync-main' });
    const genericPool = new pg.Pool({
      connectionString: database.url,
      max: 1,
      application_name: 'parksync-generic',
      options: '-c plan_cache_mode=force_generic_plan',
    });
    const db = new Kysely<Record<string, never>>({ dialect: new PostgresDialect({ pool: preparingPool(pool, genericPool) }) });
    const setting = sql<{ mode: string; app: string }>`select current_setting('plan_cache_mode') as mode,
      current_setting('application_name') as app, ${1}::integer as one`;
    try {
      const alone = await prepared(setting).execute(db);
      expect(alone.rows[0]).toMatchObject({ mode: 'force_generic_plan', app: 'parksync-generic' });
      const plain = await setting.execute(db);
      expect(plain.rows[0]).toMatchObject({ mode: 'auto', app: 'parksync-main' });
      const inTransaction = await db.transaction().execute(async (trx) => (await prepared(setting).execute(trx)).rows[0]);
      expect(inTransaction).toMatchObject({ mode: 'auto', app: 'parksync-main' });
    } finally {
      await db.destroy();
    }
  });
});

describe.runIf(testDatabaseKind() === 'postgres')('database pool size', () => {
  it('never opens more connections than PARKSYNC_DB_POOL_SIZE', async () => {
    const poolSize = loadConfig({ PARKSYNC_DB_POOL_SIZE: '4' }).databasePoolSize;
    const applicationName = `pool-size-${process.pid}`;
    const handle = await openDatabase({ databaseUrl: database.url, poolSize, applicationName });
    try {
      const busy = (marked: boolean) => {
        const statement = sql<{ slept: string }>`select pg_sleep(0.05)::text as slept, ${1}::integer as one`;
        return (marked ? prepared(statement) : statement).execute(handle.db);
      };
      await Promise.all(Array.from({ length: 24 }, (_, index) => busy(index % 2 === 0)));
      const opened = await sql<{ count: number }>`select count(*)::integer as count from pg_stat_activity where application_name = ${applicationName}`.execute(handle.db);
      expect(opened.rows[0]?.count).toBe(4);
    } finally {
      await handle.close();
    }
  });

  it('rejects a size below 2', () => {
    expect(loadConfig({}).databasePoolSize).toBe(10);
    expect(() => loadConfig({ PARKSYNC_DB_POOL_SIZE: '1' })).toThrow(/PARKSYNC_DB_POOL_SIZE must be a whole number, from 2 to 1000; got "1"/);
  });
});

describe('preparingPglite', () => {
  it('prepares marked statements once in the session', async () => {
    const db = new Kysely<Record<string, never>>({ dialect: new PGliteDialect(preparingPglite(await PGlite.create())) });
    try {
      const results = [];
      for (let run = 0; run < 3; run += 1) {
        const day = `2027-01-0${run + 1}`;
        const marked = prepared(sql<{ next: number; days: string[]; missing: string | null; at: Date }>`
          select ${run}::integer + 1 as next, ${[day, null]}::date[]::text[] as days, ${null}::text as missing, ${new Date(Date.UTC(2027, 0, 1))}::timestamptz as at`);
        results.push((await marked.execute(db)).rows[0]);
      }
      expect(results.map((row) => row?.next)).toEqual([1, 2, 3]);
      expect(results[2]).toMatchObject({ days: ['2027-01-03', null], missing: null, at: new Date(Date.UTC(2027, 0, 1)) });
      const statements = await sql<{ statement: string }>`select statement from pg_prepared_statements`.execute(db);
      expect(statements.rows).toHaveLength(1);
      expect(statements.rows[0]?.statement).toMatch(/^\/\* prepared \*\/\s+select \$1::integer \+ 1 as next/);
    } finally {
      await db.destroy();
    }
  });

  it('keeps the session usable after a marked statement fails', async () => {
    const db = new Kysely<Record<string, never>>({ dialect: new PGliteDialect(preparingPglite(await PGlite.create())) });
    try {
      const divide = (by: number) => prepared(sql<{ quotient: number }>`select 10 / ${by}::integer as quotient`).execute(db);
      await expect(divide(0)).rejects.toMatchObject({ code: '22012' });
      expect((await divide(5)).rows).toEqual([{ quotient: 2 }]);
      expect((await sql<{ one: number }>`select 1 as one`.execute(db)).rows).toEqual([{ one: 1 }]);
    } finally {
      await db.destroy();
    }
  });
});
