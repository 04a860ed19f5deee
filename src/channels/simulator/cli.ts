import { Command, InvalidArgumentError } from 'commander';
import pino from 'pino';
import { loggerOptions } from '../../observability/logger.ts';
import { startSimulator } from './server.ts';

function parsePort(text: string): number {
  const port = Number(text);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new InvalidArgumentError('must be an integer from 0 to 65535');
  }
  return port;
}

const program = new Command()
  .name('simulator')
  .description('Channel simulator: plays a booking channel for parksync on 127.0.0.1 (control API under /_control).')
  .option('--port <port>', 'TCP port to listen on; 0 picks a free one', parsePort, 9100)
  .option('--log-level <level>', 'pino log level (LOG_LEVEL also sets it)', process.env.LOG_LEVEL ?? 'info')
  .showHelpAfterError('(run with --help for usage)');

program.parse(process.argv);
const options = program.opts<{ port: number; logLevel: string }>();

const logger = pino({ ...loggerOptions(options.logLevel), base: { service: 'parksync-simulator' } });
const simulator = await startSimulator({ port: options.port, logger });

const stop = (signal: NodeJS.Signals) => {
  logger.info({ signal }, 'stopping channel simulator');
  simulator.close().then(
    () => process.exit(0),
    (error: unknown) => {
      logger.error({ err: error }, 'channel simulator failed to stop cleanly');
      process.exit(1);
    },
  );
};
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
