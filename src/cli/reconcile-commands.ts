import type { Command } from 'commander';
import { callApi } from './client.ts';
import { defined, run } from './options.ts';

const enc = encodeURIComponent;

/** Adds `parksync reconcile start|status`: request a reconcile and read its job. */
export function registerReconcileCommands(program: Command): void {
  const reconcile = program.command('reconcile').description("Compare a channel's view with parksync's and queue corrections");
  reconcile
    .command('start')
    .description('Queue a reconcile; prints the job id, or the running job (POST /channels/{channel}/reconcile)')
    .argument('<channel>')
    .requiredOption('--park-id <id>', 'park to reconcile')
    .option('--from <date>', 'first night')
    .option('--to <date>', 'last night, inclusive')
    .option('--since-cursor <cursor>', 'check only what changed since this change-feed cursor')
    .action(
      run((client, channel: string, options: { parkId: string; from?: string; to?: string; sinceCursor?: string }) =>
        callApi(client, 'POST', `/channels/${enc(channel)}/reconcile`, defined(options)),
      ),
    );
  reconcile
    .command('status')
    .description('Read a reconcile job: state and counts (GET /channels/{channel}/reconcile/{jobId})')
    .argument('<channel>')
    .argument('<jobId>')
    .action(run((client, channel: string, jobId: string) => callApi(client, 'GET', `/channels/${enc(channel)}/reconcile/${enc(jobId)}`)));
}
