import { Cron } from 'croner';
import type { AppContext } from '../http/context.ts';
import { releaseLeases } from './leases.ts';
import { runMaintenance } from './maintenance.ts';
import { refreshBacklogMetrics, startDispatcher } from '../sync/dispatcher.ts';
import { scheduleReconciles } from '../reconcile/scheduler.ts';
import { runDueReconcileJobs } from '../reconcile/worker.ts';
import { runAlertJob } from '../alerts/evaluate.ts';

export interface Worker {
  stop(): Promise<void>;
}

/**
 * Starts the background jobs of the `work` role. Each job runs on a cron
 * schedule and never overlaps itself; stop() waits for running jobs and
 * releases this process's leases so another worker can take over at once.
 */
export function startWorker(ctx: AppContext): Worker {
  const running = new Set<Promise<void>>();
  const log = ctx.logger.child({ component: 'worker', instanceId: ctx.config.instanceId });

  const schedule = (name: string, pattern: string, job: () => Promise<void>) =>
    new Cron(pattern, { protect: true, name }, async () => {
      const run = job().catch((error: unknown) => log.error({ err: error, job: name }, 'job failed; it runs again on schedule'));
      running.add(run);
      await run;
      running.delete(run);
    });

  const jobs = [
    schedule('maintenance', '*/1 * * * *', () => runMaintenance(ctx)),
    schedule('backlog-metrics', '*/15 * * * * *', () => refreshBacklogMetrics(ctx)),
    schedule('reconcile-scheduler', '*/1 * * * *', async () => {
      await scheduleReconciles(ctx);
    }),
    schedule('reconcile-jobs', '*/5 * * * * *', async () => {
      await runDueReconcileJobs(ctx);
    }),
    schedule('alerts', '*/1 * * * *', () => runAlertJob(ctx)),
  ];
  const dispatcher = startDispatcher(ctx);
  log.info({ jobs: jobs.map((job) => job.name) }, 'worker started');

  return {
    async stop() {
      for (const job of jobs) job.stop();
      await dispatcher.stop();
      await Promise.allSettled(running);
      await releaseLeases(ctx.db, ctx.config.instanceId).catch((error: unknown) =>
        log.warn({ err: error }, 'could not release leases; they expire on their own'),
      );
      log.info('worker stopped');
    },
  };
}
