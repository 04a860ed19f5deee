import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, testDatabaseKind, type TestDatabase } from './helpers/database.ts';

let database: TestDatabase;

beforeAll(async () => {
  database = await createTestDatabase();
});

afterAll(async () => {
  await database.drop();
});

/** Waits until the backend with this pid waits for a lock. */
async function untilWaitingForLock(observer: pg.Client, pid: number): Promise<void> {
  for (;;) {
    const result = await observer.query<{ waiting: boolean }>(
      `select coalesce((select wait_event_type = 'Lock' from pg_stat_activity where pid = $1), false) as waiting`,
      [pid],
    );
    if (result.rows[0]?.waiting) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe.runIf(testDatabaseKind() === 'postgres')('channel_sync_events partitions', () => {
  it('keeps an event written while its partition is made', async () => {
    // A day far from today, so no partition exists for it and its events land in the default partition.
    const day = '2031-03-01';
    const writer = new pg.Client({ connectionString: database.url });
    const maintainer = new pg.Client({ connectionString: database.url });
    const observer = new pg.Client({ connectionString: database.url });
    await Promise.all([writer.connect(), maintainer.connect(), observer.connect()]);
    try {
      await writer.query('begin');
      await writer.query(
        `insert into channel_sync_events (occurred_at, channel, direction, kind, status) values ($1, 'hipcamp', 'inbound', 'availability', 'applied')`,
        [`${day}T12:00:00Z`],
      );
      const maintainerPid = (await maintainer.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0]?.pid ?? 0;
      const partitioning = maintainer.query<{ created: number }>('select channel_sync_events_ensure_partitions($1::date, 1) as created', [day]);
      // The maintainer must reach the lock while the event is still uncommitted, or nothing races.
      await untilWaitingForLock(observer, maintainerPid);
      await writer.query('commit');

      expect((await partitioning).rows[0]?.created).toBe(1);
      const moved = await maintainer.query<{ count: number }>('select count(*)::integer as count from channel_sync_events_20310301');
      expect(moved.rows[0]?.count).toBe(1);
      const left = await maintainer.query<{ count: number }>(
        `select count(*)::integer as count from channel_sync_events_default where occurred_at >= $1::date and occurred_at < $1::date + 1`,
        [day],
      );
      expect(left.rows[0]?.count).toBe(0);
    } finally {
      await Promise.all([writer.end(), maintainer.end(), observer.end()]);
    }
  });
});
