import type { AppContext } from '../http/context.ts';
import { claimJob, failJob } from './jobs.ts';
import { JOB_LEASE_MS, runReconcileJob } from './run.ts';

/**
 * Runs queued reconcile jobs one at a time in this process. A job that
 * throws is logged and queued again, up to its attempt limit.
 */
export async function runDueReconcileJobs(ctx: AppContext, maxJobs = 5): Promise<number> {
  const owner = ctx.config.instanceId;
  let ran = 0;
  while (ran < maxJobs) {
    const job = await claimJob(ctx.db, owner, ctx.clock.now(), JOB_LEASE_MS);
    if (!job) break;
    ran += 1;
    const log = ctx.logger.child({ jobId: job.job_id, parkId: job.park_id, channel: job.channel, attempt: job.attempts });
    try {
      const counts = await runReconcileJob(ctx, job, owner);
      log.info({ ...counts }, 'reconcile job finished');
    } catch (error) {
      const outcome = await failJob(ctx.db, job, owner, (error as Error).message, ctx.clock.now());
      log.error({ err: error, outcome }, outcome === 'failed' ? 'reconcile job failed for good' : 'reconcile job failed; it is queued again');
    }
  }
  return ran;
}
