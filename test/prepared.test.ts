import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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

  it('runs a marked statement alone on the generic pool, and a transaction on the main pool', async () => {
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
