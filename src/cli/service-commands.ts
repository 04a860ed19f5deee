import type { Command } from 'commander';
import { loadConfig, type Config, type Role } from '../config.ts';

/** Reads the configuration, or prints what is wrong with it and exits, without a stack trace. */
function configOrExit(): Config {
  try {
    return loadConfig();
  } catch (error) {
    process.stderr.write(`parksync: invalid configuration: ${(error as Error).message}\n`);
    process.exit(2);
  }
}

// The service modules (database, HTTP app) load only for these commands, so API commands start fast.

async function runRole(role: Role): Promise<void> {
  const config = configOrExit();
  const { startService } = await import('../service.ts');
  const service = await startService(role, config);
  const log = service.ctx.logger;
  let signalled = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (signalled) {
      log.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    signalled = true;
    const timer = setTimeout(() => {
      log.error({ graceSeconds: config.shutdownGraceSeconds }, 'shutdown timed out; exiting');
      process.exit(1);
    }, config.shutdownGraceSeconds * 1000);
    timer.unref();
    service.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        log.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}

export function registerServiceCommands(program: Command): void {
  program
    .command('serve')
    .description('Run the HTTP API only')
    .action(() => runRole('serve'));
  program
    .command('work')
    .description('Run the background worker only (deliveries, scheduled jobs, maintenance)')
    .action(() => runRole('work'));
  program
    .command('all')
    .description('Run the HTTP API and the worker in one process (the default for npm start)')
    .action(() => runRole('all'));
  program
    .command('migrate')
    .description('Apply pending database migrations and exit (DATABASE_URL, or the embedded database in PARKSYNC_DATA_DIR)')
    .action(async () => {
      const config = configOrExit();
      const { openDatabase } = await import('../db/database.ts');
      const { migrate } = await import('../db/migrate.ts');
      const handle = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, poolSize: config.databasePoolSize });
      try {
        const result = await migrate(handle);
        process.stdout.write(`${JSON.stringify({ database: handle.kind, ...result }, null, 2)}\n`);
      } finally {
        await handle.close();
      }
    });
}
