import { Command, InvalidArgumentError, Option } from 'commander';
import { ApiError, callApi, resolveToken } from './client.ts';

const KINDS = ['availability', 'rates', 'reservations'] as const;

interface PullOptions {
  parkId: string;
  from?: string;
  to?: string;
  sinceCursor?: string;
  limit?: number;
}

function limit(value: string): number {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 1 || parsed > 1000) throw new InvalidArgumentError(`"${value}" is not an integer from 1 to 1000.`);
  return parsed;
}

/** Builds the query string, checking that the options name either a range or a cursor. */
function pullQuery(command: Command, options: PullOptions): URLSearchParams {
  const query = new URLSearchParams({ parkId: options.parkId });
  if (options.sinceCursor !== undefined) {
    query.set('sinceCursor', options.sinceCursor);
  } else if (options.from !== undefined && options.to !== undefined) {
    query.set('from', options.from);
    query.set('to', options.to);
  } else {
    command.error('error: give --from and --to, or --since-cursor');
  }
  if (options.limit !== undefined) query.set('limit', String(options.limit));
  return query;
}

/**
 * Adds `parksync pull availability|rates|reservations <channel>`: one page of
 * GET /channels/{channel}/{kind}, printed as JSON. The --url and --token
 * options are the program's global ones; use a token made for the channel.
 */
export function registerPullCommands(program: Command): void {
  const pull = program
    .command('pull')
    .description("Read a channel's view of a park, one page at a time (GET /channels/{channel}/...)");
  for (const kind of KINDS) {
    pull
      .command(kind)
      .description(`Pull ${kind} for a park by date range, or the changes after a cursor (GET /channels/{channel}/${kind})`)
      .argument('<channel>')
      .requiredOption('--park-id <id>', 'park id')
      .addOption(new Option('--from <date>', 'first night of the range, YYYY-MM-DD').conflicts('sinceCursor'))
      .addOption(new Option('--to <date>', 'last night of the range, inclusive, YYYY-MM-DD').conflicts('sinceCursor'))
      .option('--since-cursor <cursor>', 'nextCursor or changesCursor of an earlier page')
      .option('--limit <count>', 'items per page, 1 to 1000 (default 100)', limit)
      .action(async (channel: string, options: PullOptions, command: Command) => {
        const globals = command.optsWithGlobals<{ url: string; token?: string }>();
        const client = { url: globals.url, token: resolveToken(globals.token) };
        const query = pullQuery(command, options);
        try {
          const page = await callApi(client, 'GET', `/channels/${encodeURIComponent(channel)}/${kind}?${query}`);
          process.stdout.write(`${JSON.stringify(page, null, 2)}\n`);
        } catch (error) {
          if (error instanceof ApiError) {
            process.stderr.write(`${JSON.stringify(error.body, null, 2)}\n`);
          } else {
            const reason = (error as { cause?: { code?: string } }).cause?.code ?? (error as Error).message;
            process.stderr.write(`request to ${client.url} failed: ${reason}; is parksync running (npm start)?\n`);
          }
          process.exitCode = 1;
        }
      });
  }
}
