import { sql } from 'kysely';
import type { Executor } from '../audit/audit.ts';
import type { Selectable } from 'kysely';
import type { ReconcileJobsTable } from '../db/schema.ts';

export type ReconcileJob = Selectable<ReconcileJobsTable>;

/** Attempts before a failing job stays failed. */
export const MAX_JOB_ATTEMPTS = 3;

export interface JobRequest {
  parkId: string;
  channel: string;
  trigger: 'manual' | 'nightly' | 'delta';
  from?: string;
  to?: string;
  sinceCursor?: string;
  requestedBy: string;
}

/**
 * Queues a job, or returns the connection's active job when one is queued or
 * running: a unique index allows one active job per connection.
 */
export async function enqueueJob(db: Executor, job: JobRequest, now: Date): Promise<{ job: ReconcileJob; created: boolean }> {
  const inserted = await sql<ReconcileJob>`
    insert into reconcile_jobs (park_id, channel, trigger, range_from, range_to, since_cursor, requested_by, created_at)
    values (${job.parkId}, ${job.channel}, ${job.trigger}, ${job.from ?? null}, ${job.to ?? null}, ${job.sinceCursor ?? null}, ${job.requestedBy}, ${now})
    on conflict (park_id, channel) where state in ('queued', 'running') do nothing
    returning *
  `.execute(db);
  const created = inserted.rows[0];
  if (created) return { job: created, created: true };
  const active = await db
    .selectFrom('reconcile_jobs')
    .selectAll()
    .where('park_id', '=', job.parkId)
    .where('channel', '=', job.channel)
    .where('state', 'in', ['queued', 'running'])
    .executeTakeFirst();
  if (!active) return enqueueJob(db, job, now);
  return { job: active, created: false };
}

/** Claims the oldest queued job, or a running one whose worker's lease expired. */
export async function claimJob(db: Executor, owner: string, now: Date, leaseMs: number): Promise<ReconcileJob | undefined> {
  const claimed = await sql<ReconcileJob>`
    update reconcile_jobs j
    set state = 'running', lease_owner = ${owner}, lease_until = ${new Date(now.getTime() + leaseMs)},
        attempts = j.attempts + 1, started_at = coalesce(j.started_at, ${now})
    where j.job_id = (
      select job_id from reconcile_jobs
      where state = 'queued' or (state = 'running' and lease_until < ${now})
      order by created_at
      limit 1
      for update skip locked)
    returning j.*
  `.execute(db);
  return claimed.rows[0];
}

export async function recordProgress(
  db: Executor,
  jobId: string,
  owner: string,
  counts: { checked: number; drifted: number; corrected: number },
  leaseUntil: Date,
): Promise<void> {
  await db
    .updateTable('reconcile_jobs')
    .set({ ...counts, lease_until: leaseUntil })
    .where('job_id', '=', jobId)
    .where('lease_owner', '=', owner)
    .execute();
}

export async function finishJob(db: Executor, jobId: string, owner: string, now: Date): Promise<void> {
  await db
    .updateTable('reconcile_jobs')
    .set({ state: 'succeeded', lease_owner: null, lease_until: null, finished_at: now, last_error: null })
    .where('job_id', '=', jobId)
    .where('lease_owner', '=', owner)
    .execute();
}

/** Puts a failed job back in the queue, or fails it for good after MAX_JOB_ATTEMPTS. */
export async function failJob(db: Executor, job: ReconcileJob, owner: string, error: string, now: Date): Promise<'retrying' | 'failed'> {
  const final = job.attempts >= MAX_JOB_ATTEMPTS;
  await db
    .updateTable('reconcile_jobs')
    .set({
      state: final ? 'failed' : 'queued',
      lease_owner: null,
      lease_until: null,
      last_error: error.slice(0, 1000),
      ...(final ? { finished_at: now } : {}),
    })
    .where('job_id', '=', job.job_id)
    .where('lease_owner', '=', owner)
    .execute();
  return final ? 'failed' : 'retrying';
}
