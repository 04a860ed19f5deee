/**
 * npm run demo: parksync and two simulated channels, in one process on an
 * in-memory database. It sets up a park, sends a few signed webhooks as the
 * channels would, waits for the outbound deliveries, and prints what parksync
 * stores next to what each channel holds. Exits 0 when both channels match
 * parksync on every night, 1 otherwise.
 */
import { performance } from 'node:perf_hooks';
import { readBacklog, waitForEmptyBacklog } from './demo/backlog.ts';
import { compareWithChannels, formatTables } from './demo/compare.ts';
import { CHANNELS, createPark, stockPark } from './demo/park.ts';
import { runWebhookSteps } from './demo/scenario.ts';
import { startStack, type DemoStack } from './demo/stack.ts';

function print(line = ''): void {
  process.stdout.write(`${line}\n`);
}

async function countReceived(stack: DemoStack, channel: string): Promise<number> {
  const response = await fetch(`${stack.simulator.url}/_control/received?channel=${channel}&status=applied`);
  return ((await response.json()) as { items: unknown[] }).items.length;
}

/** Runs the whole story on a started stack. Returns the process exit code. */
async function runDemo(stack: DemoStack, started: number): Promise<number> {
  const startup = ((performance.now() - started) / 1000).toFixed(1);
  print(`parksync  ${stack.parksyncUrl} (role all, in-memory PGlite; started in ${startup} s)`);
  print(`simulator ${stack.simulator.url}`);

  const park = await createPark(stack);
  print(`park ${park.parkId}: ${park.unitTypes.map((unitType) => `${unitType.unitTypeId} (${unitType.units} units)`).join(', ')}`);
  print(`connected ${CHANNELS.join(' and ')} with endpoints at the simulator; webhook writes on`);
  for (const line of await stockPark(stack, park)) print(line);
  await waitForEmptyBacklog(stack.service.ctx);

  print('webhooks from the channels:');
  await runWebhookSteps(stack, park, print);

  const backlog = await readBacklog(stack.service.ctx);
  const pushes = await Promise.all(CHANNELS.map(async (channel) => `${channel} ${await countReceived(stack, channel)}`));
  print(`outbound backlog empty: ${backlog.delivered} deliveries sent, ${backlog.dead} dead; pushes applied by ${pushes.join(', ')}`);

  const comparison = await compareWithChannels(stack, park);
  for (const line of formatTables(park, comparison.rows)) print(line);
  print();
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  if (comparison.mismatches.length > 0) {
    process.stderr.write(`FAILED: the channels do not match parksync (${comparison.mismatches.length} difference(s)):\n`);
    for (const mismatch of comparison.mismatches) process.stderr.write(`  - ${mismatch}\n`);
    return 1;
  }
  print(`OK: ${CHANNELS.join(' and ')} match parksync's available and rates on every night (${seconds} s in all).`);
  return 0;
}

async function main(): Promise<number> {
  const started = performance.now();
  let stack: DemoStack;
  try {
    stack = await startStack();
  } catch (error) {
    process.stderr.write(`FAILED: could not start parksync and the simulator: ${(error as Error).message}\n`);
    return 1;
  }
  const interrupt = () => {
    process.stderr.write('interrupted; stopping parksync and the simulator\n');
    void stack.stop().finally(() => process.exit(130));
  };
  process.once('SIGINT', interrupt);
  try {
    return await runDemo(stack, started);
  } catch (error) {
    process.stderr.write(`FAILED: ${(error as Error).message}\n`);
    return 1;
  } finally {
    process.off('SIGINT', interrupt);
    await stack.stop();
  }
}

process.exitCode = await main();
