import { InvalidArgumentError, type Command } from 'commander';
import { callApi } from './client.ts';
import { defined, run } from './options.ts';

interface LogsOptions {
  parkId?: string;
  status?: string;
  kind?: string;
  direction?: string;
  since?: string;
  until?: string;
  cursor?: string;
  limit?: number;
}

function limit(value: string): number {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 1 || parsed > 1000) throw new InvalidArgumentError(`"${value}" is not an integer from 1 to 1000.`);
  return parsed;
}

/**
 * Adds `parksync logs <channel>`: one page of GET /channels/{channel}/logs,
 * printed as JSON. The API checks every filter and names a wrong one in a 422.
 */
export function registerLogsCommands(program: Command): void {
  program
    .command('logs')
    .description("Read a channel's sync events, newest first: webhooks received, deliveries attempted, drift (GET /channels/{channel}/logs)")
    .argument('<channel>')
    .option('--park-id <id>', 'only this park')
    .option('--status <status>', 'only this status, such as applied, overbook, stale, failed, dead or drift')
    .option('--kind <kind>', 'only this kind: availability, rates or reservations')
    .option('--direction <direction>', 'inbound (webhooks) or outbound (deliveries and drift)')
    .option('--since <time>', 'only events at or after this ISO 8601 time, such as 2026-12-04T08:00:00Z')
    .option('--until <time>', 'only events before this ISO 8601 time')
    .option('--cursor <cursor>', 'nextCursor of the previous page')
    .option('--limit <count>', 'events per page, 1 to 1000 (default 100)', limit)
    .action(
      run((client, channel: string, options: LogsOptions) => {
        const query = new URLSearchParams(
          Object.fromEntries(Object.entries(defined({ ...options })).map(([key, value]) => [key, String(value)])),
        );
        return callApi(client, 'GET', `/channels/${encodeURIComponent(channel)}/logs?${query}`);
      }),
    );
}
