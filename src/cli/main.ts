import { Command } from 'commander';
import { registerApiCommands } from './api-commands.ts';
import { registerPullCommands } from './pull-commands.ts';
import { registerReconcileCommands } from './reconcile-commands.ts';
import { registerLogsCommands } from './logs-commands.ts';
import { registerServiceCommands } from './service-commands.ts';

const program = new Command()
  .name('parksync')
  .description('Channel manager for holiday parks. Service roles, migrations and every admin action.')
  .showHelpAfterError('(run with --help for usage)');

registerServiceCommands(program);
registerApiCommands(program);
registerPullCommands(program);
registerReconcileCommands(program);
registerLogsCommands(program);

await program.parseAsync(process.argv);
