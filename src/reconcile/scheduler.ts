import { sql } from 'kysely';
import type { AppContext } from '../http/context.ts';
import { addDays, todayIn } from '../lib/dates.ts';
import { acquireLease } from '../worker/leases.ts';
import { changesFrom, encodeCursor } from '../pull/cursor.ts';
import { readHorizon } from '../pull/queries.ts';
import { enqueueJob } from './jobs.ts';

/** Park-local hour at which the nightly full reconcile starts. */
export const NIGHTLY_LOCAL_HOUR = 3;
/** Nights the nightly run covers, from today. */
export const NIGHTLY_DAYS = 365;
/** Minutes between delta runs when the flag is simply "on". */
export const DEFAULT_DELTA_MINUTES = 60;

export interface Cadence {
  nightly: boolean;
  /** Minutes between delta runs; null for none. */
  deltaMinutes: number | null;
}

/**
 * Reads the channel_reconcile_jobs flag: "off"; "on" (nightly and hourly
 * deltas); "cadence:daily" (nightly only); "cadence:hourly" or
 * "cadence:<N>m" (nightly and deltas every hour or N minutes).
 */
export function parseCadence(value: string): Cadence | null {
  if (value === 'off') return null;
  if (value === 'on' || value === 'cadence:hourly') return { nightly: true, deltaMinutes: DEFAULT_DELTA_MINUTES };
  if (value === 'cadence:daily') return { nightly: true, deltaMinutes: null };
  const minutes = /^cadence:(\d{1,4})m$/.exec(value);
  if (minutes) return { nightly: true, deltaMinutes: Math.max(5, Number(minutes[1])) };
  return null;
}

export function localHour(timezone: string, now: Date): number {
  return Number(new Intl.DateTimeFormat('en-GB', { timeZone: timezone, hour: '2-digit', hourCycle: 'h23' }).format(now));
}

interface ScheduleRow {
  park_id: string;
  channel: string;
  timezone: string;
  nightly_day: string | null;
  delta_started: Date | null;
  delta_cursor: string | null;
}

/**
 * Queues the reconcile runs that are due, per connection, behind the
 * channel_reconcile_jobs flag. Only the process holding the scheduler lease
 * plans, so one scheduler runs across all processes. Returns the jobs queued.
 */
export async function scheduleReconciles(ctx: AppContext): Promise<number> {
  const now = ctx.clock.now();
  if (!(await acquireLease(ctx.db, 'reconcile-scheduler', ctx.config.instanceId, 120, now))) return 0;
  const rows = await sql<ScheduleRow>`
    select c.park_id, c.channel, p.timezone,
      nightly.last_local_day::text as nightly_day, delta.last_started as delta_started, delta.next_cursor as delta_cursor
    from connections c
    join parks p on p.park_id = c.park_id
    left join reconcile_schedule nightly on nightly.park_id = c.park_id and nightly.channel = c.channel and nightly.run = 'nightly'
    left join reconcile_schedule delta on delta.park_id = c.park_id and delta.channel = c.channel and delta.run = 'delta'
    where c.enabled and not c.paused and c.endpoint_url is not null
  `.execute(ctx.db);

  let queued = 0;
  for (const row of rows.rows) {
    const cadence = parseCadence(await ctx.flags.evaluate('channel_reconcile_jobs', { channel: row.channel, parkId: row.park_id }));
    if (!cadence) continue;
    const today = todayIn(row.timezone, now);
    if (cadence.nightly && localHour(row.timezone, now) === NIGHTLY_LOCAL_HOUR && row.nightly_day !== today) {
      const job = await enqueueJob(
        ctx.db,
        { parkId: row.park_id, channel: row.channel, trigger: 'nightly', from: today, to: addDays(today, NIGHTLY_DAYS - 1), requestedBy: 'scheduler' },
        now,
      );
      await markRun(ctx, row, 'nightly', now, today, null);
      if (job.created) queued += 1;
      continue;
    }
    const deltaDue = cadence.deltaMinutes !== null && (!row.delta_started || now.getTime() - row.delta_started.getTime() >= cadence.deltaMinutes * 60_000);
    if (deltaDue) {
      const job = await enqueueDelta(ctx, row, today, now);
      if (job) queued += 1;
    }
  }
  return queued;
}

async function markRun(
  ctx: AppContext,
  row: ScheduleRow,
  run: 'nightly' | 'delta',
  now: Date,
  localDay: string | null,
  nextCursor: string | null,
): Promise<void> {
  await ctx.db
    .insertInto('reconcile_schedule')
    .values({ park_id: row.park_id, channel: row.channel, run, last_started: now, last_local_day: localDay, next_cursor: nextCursor })
    .onConflict((conflict) =>
      conflict.columns(['park_id', 'channel', 'run']).doUpdateSet({ last_started: now, last_local_day: localDay, next_cursor: nextCursor }),
    )
    .execute();
}

/**
 * Queues a delta run over the nights changed since the previous delta, by the
 * change feed. The first delta of a connection has no position yet, so it
 * checks the next 30 nights instead. Either way the next delta starts from
 * the feed horizon read now.
 */
async function enqueueDelta(ctx: AppContext, row: ScheduleRow, today: string, now: Date): Promise<boolean> {
  const nextCursor = encodeCursor({
    mode: 'changes',
    kind: 'availability',
    parkId: row.park_id,
    channel: row.channel,
    position: changesFrom(await readHorizon(ctx.db)),
  });
  const scope = row.delta_cursor ? { sinceCursor: row.delta_cursor } : { from: today, to: addDays(today, 29) };
  const job = await enqueueJob(ctx.db, { parkId: row.park_id, channel: row.channel, trigger: 'delta', ...scope, requestedBy: 'scheduler' }, now);
  // A delta that could not be queued (another job is active) keeps its start, so no change goes unchecked.
  await markRun(ctx, row, 'delta', now, null, job.created ? nextCursor : row.delta_cursor);
  return job.created;
}
