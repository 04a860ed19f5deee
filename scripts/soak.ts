import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { createPark, nightsFromTomorrow, unitTypeIds } from './bench/lib/admin.ts';
import { describeStatuses, LoadClient, runOpenLoop } from './bench/lib/load.ts';
import { describeMachine, readMachine } from './bench/lib/machine.ts';
import { killLiveChildren } from './bench/lib/processes.ts';
import { markdownTable, writeSections } from './bench/lib/report.ts';
import { ADMIN_DATABASE_URL, dropLiveDatabases } from './bench/lib/scratch-db.ts';
import { startStack } from './bench/lib/stack.ts';
import { formatMs, slope } from './bench/lib/stats.ts';
import { AvailabilityWebhooks } from './bench/lib/webhooks.ts';

/**
 * `npm run soak -- [--duration SECONDS] [--rate N] [--out FILE]` runs parksync
 * (`serve` and `work` on a scratch PostgreSQL database, deliveries to the
 * simulator) under a steady webhook load, samples the memory of both
 * processes, and reports how it grew. Not part of CI: the default run takes
 * ten minutes.
 */

const USAGE = `Usage: npm run soak -- [--duration SECONDS] [--rate N] [--out FILE]

  --duration SECONDS  how long the load runs (default 600)
  --rate N            webhooks per second (default 100)
  --out FILE          also write the report into FILE's "soak" section (such as docs/benchmarks.md)`;

const PARK = 'soak-park';
const RECEIVERS = ['hipcamp', 'pitchup'];
/** Samples taken before this share of the run are the warm-up, left out of the growth figures. */
const WARM_UP_SHARE = 0.2;
const DRAIN_TIMEOUT_MS = 60_000;
/** Shorter runs get a note that their growth figures say little. */
const SHORT_RUN_SECONDS = 300;

interface Options {
  durationSeconds: number;
  rate: number;
  out: string | undefined;
}

function parseOptions(argv: readonly string[]): Options {
  const options: Options = { durationSeconds: 600, rate: 100, out: undefined };
  for (let index = 0; index < argv.length; index += 1) {
    const argument = argv[index];
    const value = argv[index + 1];
    if (argument === '--help' || argument === '-h') {
      console.log(USAGE);
      process.exit(0);
    }
    if (argument === '--duration' || argument === '--rate') {
      const number = Number(value);
      if (!Number.isInteger(number) || number < 1) throw new Error(`${argument} needs a positive whole number, got "${value}"`);
      if (argument === '--duration') options.durationSeconds = number;
      else options.rate = number;
      index += 1;
    } else if (argument === '--out') {
      if (!value) throw new Error('--out needs a file name');
      options.out = path.resolve(value);
      index += 1;
    } else {
      throw new Error(`unknown argument "${argument}"\n\n${USAGE}`);
    }
  }
  return options;
}

interface Sample {
  seconds: number;
  serveKb: number;
  workKb: number;
  accepted: number;
  p99Ms: number;
  backlog: number;
  statuses: string;
}

async function backlogOf(databaseUrl: string): Promise<number> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const result = await client.query<{ backlog: string }>(
      `select (select count(*) from outbound_dirty where park_id = $1)
            + (select count(*) from outbound_deliveries where park_id = $1 and state in ('pending', 'in_flight')) as backlog`,
      [PARK],
    );
    return Number(result.rows[0]?.backlog ?? 0);
  } finally {
    await client.end();
  }
}

function megabytes(kilobytes: number): string {
  return (kilobytes / 1024).toFixed(1);
}

/** Growth after the warm-up: the last sample against the first, and the least-squares slope in MB per minute. */
function growth(samples: readonly Sample[], pick: (sample: Sample) => number): { fromKb: number; toKb: number; mbPerMinute: number } {
  const first = samples[0];
  const last = samples.at(-1);
  const points = samples.map((sample) => ({ x: sample.seconds / 60, y: pick(sample) / 1024 }));
  return { fromKb: first ? pick(first) : Number.NaN, toKb: last ? pick(last) : Number.NaN, mbPerMinute: slope(points) };
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const options = parseOptions(argv);
  const intervalSeconds = Math.max(5, Math.min(30, Math.round(options.durationSeconds / 40)));
  const workDir = await mkdtemp(path.join(tmpdir(), 'parksync-soak-'));
  process.once('SIGINT', () => {
    killLiveChildren();
    void dropLiveDatabases().finally(() => process.exit(130));
  });
  const machine = await readMachine(ADMIN_DATABASE_URL);
  const stack = await startStack({ name: 'soak', workDir, worker: true });
  const work = stack.work;
  if (!work) throw new Error('the soak stack has no worker');
  const client = new LoadClient(stack.serve.url ?? '', 256);
  const samples: Sample[] = [];
  let failed = false;
  try {
    const secrets = await createPark(stack.api, PARK, 20, [
      { channel: 'booking', webhooksOn: true },
      ...RECEIVERS.map((channel) => ({ channel, simulator: stack.simulator.simulator })),
    ]);
    const webhooks = new AvailabilityWebhooks({ channel: 'booking', parkId: PARK, secret: secrets.booking ?? '', unitTypeIds: unitTypeIds(20), nights: nightsFromTomorrow(1000) });
    console.log(`soak: ${options.rate} webhooks/s for ${options.durationSeconds} s, a sample every ${intervalSeconds} s`);
    const started = performance.now();
    while ((performance.now() - started) / 1000 < options.durationSeconds) {
      const remaining = options.durationSeconds - (performance.now() - started) / 1000;
      const phase = await runOpenLoop({
        name: 'soak',
        client,
        durationMs: Math.min(intervalSeconds, remaining) * 1000,
        rate: options.rate,
        next: () => webhooks.next(),
        expectStatus: 202,
      });
      const sample: Sample = {
        seconds: (performance.now() - started) / 1000,
        serveKb: stack.serve.memory()?.rssKb ?? Number.NaN,
        workKb: work.memory()?.rssKb ?? Number.NaN,
        accepted: phase.throughput,
        p99Ms: phase.latency.p99,
        backlog: await backlogOf(stack.database.url),
        statuses: describeStatuses(phase.statuses),
      };
      samples.push(sample);
      console.log(
        `${sample.seconds.toFixed(0).padStart(5)} s  serve ${megabytes(sample.serveKb)} MB  work ${megabytes(sample.workKb)} MB  ` +
          `${sample.accepted.toFixed(0)}/s  p99 ${formatMs(sample.p99Ms)} ms  backlog ${sample.backlog}  ${sample.statuses}`,
      );
    }
    const drainStarted = performance.now();
    while ((await backlogOf(stack.database.url)) > 0 && performance.now() - drainStarted < DRAIN_TIMEOUT_MS) await sleep(250);
    const backlogAfter = await backlogOf(stack.database.url);

    const steady = samples.filter((sample) => sample.seconds >= options.durationSeconds * WARM_UP_SHARE);
    const serve = growth(steady, (sample) => sample.serveKb);
    const worker = growth(steady, (sample) => sample.workKb);
    const log = stack.simulator.simulator.state.receivedLog({ parkId: PARK });
    const report = [
      '## Soak: memory under a steady load',
      '',
      `Command: \`npm run soak${argv.length > 0 ? ` -- ${argv.join(' ')}` : ''}\``,
      '',
      `Run ${machine.date} on ${describeMachine(machine)}.`,
      '',
      `${options.rate} signed availability webhooks/s for ${options.durationSeconds} s to one \`serve\` process, with one \`work\` process ` +
        `delivering to two connections at the simulator, on a scratch PostgreSQL database. Resident set size every ${intervalSeconds} s; ` +
        `growth is measured after the first ${WARM_UP_SHARE * 100} % of the run (warm-up), as the last sample against the first and as the least-squares slope.`,
      '',
      markdownTable(
        ['process', `RSS after warm-up, MB`, 'RSS at the end, MB', 'peak, MB', 'slope, MB per minute'],
        [
          ['serve', megabytes(serve.fromKb), megabytes(serve.toKb), megabytes(Math.max(...samples.map((sample) => sample.serveKb))), serve.mbPerMinute.toFixed(2)],
          ['work', megabytes(worker.fromKb), megabytes(worker.toKb), megabytes(Math.max(...samples.map((sample) => sample.workKb))), worker.mbPerMinute.toFixed(2)],
        ],
      ),
      '',
      `Webhooks accepted per second: ${samples.map((sample) => sample.accepted.toFixed(0)).join(', ')}. ` +
        `p99 per interval, ms: ${samples.map((sample) => formatMs(sample.p99Ms)).join(', ')}. ` +
        `Deliveries applied at the simulator: ${log.counts.applied}; repeated: ${log.counts.duplicate}. ` +
        `Outbox backlog after waiting up to ${DRAIN_TIMEOUT_MS / 1000} s for it to drain: ${backlogAfter}.`,
      ...(options.durationSeconds < SHORT_RUN_SECONDS
        ? ['', `NOTE: a run under ${SHORT_RUN_SECONDS / 60} minutes shows the processes settling after start-up, not growth over time; it checks that the soak works.`]
        : []),
    ].join('\n');
    console.log(`\n${report}`);
    if (options.out) writeSections(options.out, [{ item: 'soak', markdown: report }]);
  } catch (error) {
    failed = true;
    console.error(error);
  } finally {
    await client.close();
    await stack.stop();
    if (failed) console.error(`logs of the child processes kept in ${workDir}`);
    else await rm(workDir, { recursive: true, force: true });
  }
  if (failed) process.exitCode = 1;
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  killLiveChildren();
  void dropLiveDatabases().finally(() => process.exit(1));
});
