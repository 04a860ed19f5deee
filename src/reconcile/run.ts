import { adapterFor } from '../channels/adapters/index.ts';
import type { ConnectionRow, ParkRow } from '../db/schema.ts';
import type { AppContext } from '../http/context.ts';
import { readAvailability } from '../inventory/availability.ts';
import { readRates } from '../inventory/rates.ts';
import { addDays } from '../lib/dates.ts';
import { recordSyncEvent } from '../observability/sync-events.ts';
import { markDirtyForConnection } from '../sync/dirty.ts';
import { compareAvailability, compareRates, type Drift } from './compare.ts';
import { deltaStart, reconcileChanges } from './delta.ts';
import { finishJob, recordProgress, type ReconcileJob } from './jobs.ts';

/** Nights compared per step: memory stays bounded by one window, however long the range. */
export const WINDOW_DAYS = 31;
/** Time allowed for one read of the channel's view. */
const VIEW_TIMEOUT_MS = 15_000;
/** Lease a running job holds; renewed after every window. */
export const JOB_LEASE_MS = 120_000;

export interface ReconcileCounts {
  checked: number;
  drifted: number;
  corrected: number;
}

/** Splits an inclusive range into windows of WINDOW_DAYS nights. */
export function windowsOf(from: string, to: string): Array<{ from: string; to: string }> {
  const windows: Array<{ from: string; to: string }> = [];
  for (let start = from; start <= to; start = addDays(start, WINDOW_DAYS)) {
    const end = addDays(start, WINDOW_DAYS - 1);
    windows.push({ from: start, to: end < to ? end : to });
  }
  return windows;
}

/** Logs each drift as an event and queues its night for the connection through the normal outbox. */
async function correctDrifts(ctx: AppContext, connection: ConnectionRow, job: ReconcileJob, drifts: readonly Drift[]): Promise<void> {
  if (drifts.length === 0) return;
  await ctx.db.transaction().execute(async (trx) => {
    for (const drift of drifts) {
      await recordSyncEvent(trx, {
        occurredAt: ctx.clock.now(),
        parkId: connection.park_id,
        channel: connection.channel,
        direction: 'outbound',
        kind: drift.kind,
        status: 'drift',
        detail: { jobId: job.job_id, unitTypeId: drift.unitTypeId, date: drift.date, ratePlanId: drift.ratePlanId ?? null, fields: drift.fields },
      });
    }
    for (const kind of ['availability', 'rates'] as const) {
      const nights = drifts.filter((drift) => drift.kind === kind).map((drift) => ({ unitTypeId: drift.unitTypeId, date: drift.date }));
      await markDirtyForConnection(trx, { parkId: connection.park_id, channel: connection.channel, kind }, nights);
    }
  });
}

/** Compares one window of nights and queues the corrections. */
async function reconcileWindow(
  ctx: AppContext,
  connection: ConnectionRow,
  park: ParkRow,
  job: ReconcileJob,
  window: { from: string; to: string },
): Promise<ReconcileCounts> {
  const [ours, ourRates, theirs] = await Promise.all([
    readAvailability(ctx.db, park.park_id, window),
    readRates(ctx.db, park, window),
    adapterFor(connection.adapter).readView(connection, window, VIEW_TIMEOUT_MS),
  ]);
  const drifts = [...compareAvailability(ours, theirs.availability), ...compareRates(ourRates, theirs.rates)];
  await correctDrifts(ctx, connection, job, drifts);
  return { checked: ours.length + ourRates.length, drifted: drifts.length, corrected: drifts.length };
}

/**
 * Runs a claimed job window by window (or, for a delta, feed page by feed
 * page), saving the counts after each step so a status read shows progress and
 * a crash loses at most one step's work.
 */
export async function runReconcileJob(ctx: AppContext, job: ReconcileJob, owner: string): Promise<ReconcileCounts> {
  const connection = await ctx.db
    .selectFrom('connections')
    .selectAll()
    .where('park_id', '=', job.park_id)
    .where('channel', '=', job.channel)
    .executeTakeFirstOrThrow();
  const park = await ctx.db.selectFrom('parks').selectAll().where('park_id', '=', job.park_id).executeTakeFirstOrThrow();
  const counts: ReconcileCounts = { checked: 0, drifted: 0, corrected: 0 };
  const addStep = async (step: ReconcileCounts) => {
    counts.checked += step.checked;
    counts.drifted += step.drifted;
    counts.corrected += step.corrected;
    await recordProgress(ctx.db, job.job_id, owner, counts, new Date(ctx.clock.now().getTime() + JOB_LEASE_MS));
  };

  if (job.range_from && job.range_to) {
    for (const window of windowsOf(job.range_from, job.range_to)) {
      await addStep(await reconcileWindow(ctx, connection, park, job, window));
    }
  } else {
    const start = job.since_cursor ? deltaStart(job.since_cursor, job.park_id, job.channel) : undefined;
    if (!start) throw new Error('the job has neither a range nor a valid change cursor');
    await reconcileChanges(ctx, connection, park, start, async (step) => {
      await correctDrifts(ctx, connection, job, step.drifts);
      await addStep({ checked: step.checked, drifted: step.drifts.length, corrected: step.drifts.length });
    });
  }
  await finishJob(ctx.db, job.job_id, owner, ctx.clock.now());
  return counts;
}
