import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { AdminApi, createPark, nightsFromTomorrow, unitTypeIds } from './lib/admin.ts';
import { newAdminToken, phaseMs, runHeader, type BenchContext, type BenchItem, type ItemResult } from './lib/context.ts';
import { findCpuProfile, summarizeCpuProfile, type CpuSummary } from './lib/cpu-profile.ts';
import { describeStatuses, LoadClient, runClosedLoop, type PhaseResult } from './lib/load.ts';
import { startFloorProcess, startServiceProcess, stopAll, type ChildHandle } from './lib/processes.ts';
import { markdownTable } from './lib/report.ts';
import { formatCount, formatMs, formatRatio } from './lib/stats.ts';
import { AvailabilityWebhooks, type WebhookTarget } from './lib/webhooks.ts';

/**
 * (e) Ingest on the embedded database: parksync `serve` with no DATABASE_URL,
 * so it runs PGlite inside its process, against the floor server on PGlite,
 * measured the same way as (a) at saturation. Two storage settings: files in
 * a temporary directory (what `npm start` uses, with ./data) and memory://
 * (what the tests use).
 */

const PARK = 'embedded-park';
const UNIT_TYPES = 20;
const NIGHTS = 1000;
/** PGlite runs one statement at a time, so a few requests in flight already keep it busy. */
const CONCURRENCY = 16;
const TARGET_PER_SECOND = 1000;

interface Storage {
  label: string;
  dataDir(context: BenchContext, owner: string): string;
}

const STORAGES: readonly Storage[] = [
  { label: 'files in a directory', dataDir: (context, owner) => path.join(context.workDir, `embedded-${owner}-pglite`) },
  { label: 'memory://', dataDir: () => 'memory://' },
];

interface Contender {
  label: string;
  client: LoadClient;
  webhooks: AvailabilityWebhooks;
}

interface PairResult {
  storage: Storage;
  parksync: PhaseResult;
  floor: PhaseResult;
  /** The data directory, token and webhooks a later process on the same data needs; the webhooks carry on, so versions keep growing. */
  reuse: { dataDir: string; adminToken: string; webhooks: AvailabilityWebhooks };
}

function saturate(context: BenchContext, contender: Contender, warmUp: boolean): Promise<PhaseResult> {
  return runClosedLoop({
    name: `${contender.label}${warmUp ? ' warm-up' : ''}`,
    client: contender.client,
    durationMs: warmUp ? phaseMs(context, 3, 1) : phaseMs(context, 10, 4),
    concurrency: CONCURRENCY,
    next: () => contender.webhooks.next(),
    expectStatus: 202,
  });
}

/** Starts parksync and the floor on one storage setting and measures both at saturation, taking turns. */
async function measurePair(context: BenchContext, storage: Storage): Promise<PairResult> {
  const handles: ChildHandle[] = [];
  const clients: LoadClient[] = [];
  try {
    const adminToken = newAdminToken();
    const dataDir = storage.dataDir(context, 'parksync');
    const parksync = await startServiceProcess({ name: 'embedded-parksync', role: 'serve', adminToken, logDir: context.workDir, dataDir });
    handles.push(parksync);
    const secrets = await createPark(new AdminApi(parksync.url ?? '', adminToken), PARK, UNIT_TYPES, [{ channel: 'booking', webhooksOn: true }, { channel: 'hipcamp' }]);
    const target: WebhookTarget = { channel: 'booking', parkId: PARK, secret: secrets.booking ?? '', unitTypeIds: unitTypeIds(UNIT_TYPES), nights: nightsFromTomorrow(NIGHTS) };
    const floor = await startFloorProcess({ name: 'embedded-floor', secret: target.secret, logDir: context.workDir, dataDir: storage.dataDir(context, 'floor') });
    handles.push(floor);

    const contender = (label: string, handle: ChildHandle): Contender => {
      const client = new LoadClient(handle.url ?? '', CONCURRENCY * 2);
      clients.push(client);
      return { label, client, webhooks: new AvailabilityWebhooks(target) };
    };
    const ours = contender('parksync', parksync);
    const theirs = contender('floor', floor);
    context.log(`embedded, ${storage.label}: warm-up`);
    await saturate(context, ours, true);
    await saturate(context, theirs, true);
    context.log(`embedded, ${storage.label}: saturation`);
    const parksyncResult = await saturate(context, ours, false);
    const floorResult = await saturate(context, theirs, false);
    context.log(`embedded, ${storage.label}: parksync ${formatCount(parksyncResult.throughput)}/s, floor ${formatCount(floorResult.throughput)}/s`);
    return { storage, parksync: parksyncResult, floor: floorResult, reuse: { dataDir, adminToken, webhooks: ours.webhooks } };
  } finally {
    await Promise.all(clients.map((client) => client.close()));
    await stopAll(handles);
  }
}

/** Runs parksync again on the first pair's PGlite files under `node --cpu-prof`, through a warm-up and a saturation phase. */
async function profileCpu(context: BenchContext, pair: PairResult): Promise<CpuSummary & { throughput: number }> {
  const directory = path.join(context.workDir, 'embedded-cpu-profile');
  mkdirSync(directory, { recursive: true });
  const child = await startServiceProcess({
    name: 'embedded-parksync-cpu-profile',
    role: 'serve',
    adminToken: pair.reuse.adminToken,
    logDir: context.workDir,
    dataDir: pair.reuse.dataDir,
    nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${directory}`],
  });
  const contender: Contender = { label: 'parksync (profiled)', client: new LoadClient(child.url ?? '', CONCURRENCY * 2), webhooks: pair.reuse.webhooks };
  let result: PhaseResult;
  try {
    await saturate(context, contender, true);
    result = await saturate(context, contender, false);
  } finally {
    await contender.client.close();
    await child.stop();
  }
  return { ...summarizeCpuProfile(findCpuProfile(directory)), throughput: result.throughput };
}

function renderCpu(cpu: CpuSummary & { throughput: number }): string {
  return [
    '### Where the parksync process spends its CPU on PGlite',
    '',
    'parksync ran again on the PGlite files of the first pair under `node --cpu-prof`, through a warm-up and a saturation phase ' +
      `(${formatCount(cpu.throughput)} webhooks/s while profiled). PGlite runs inside the process, so its share is time the ` +
      `database itself took. ${formatCount(cpu.busyMs)} ms of samples, without idle time and module loading at start-up, each given to ` +
      'the innermost package or src/ folder on its stack (scripts/bench/lib/cpu-profile.ts):',
    '',
    markdownTable(
      ['caller', 'share of busy CPU'],
      cpu.byCaller.map((entry) => [`\`${entry.name}\``, `${(entry.share * 100).toFixed(1)} %`]),
    ),
  ].join('\n');
}

function render(context: BenchContext, pairs: readonly PairResult[], cpu: CpuSummary & { throughput: number }): string {
  const row = (storage: string, server: string, result: PhaseResult, ratio: string) => [
    storage,
    server,
    formatCount(result.throughput),
    formatMs(result.latency.p50),
    formatMs(result.latency.p99),
    describeStatuses(result.statuses),
    ratio,
  ];
  const seconds = ((pairs[0]?.parksync.durationMs ?? 0) / 1000).toFixed(0);
  return [
    '## (e) Ingest on the embedded PGlite database',
    '',
    runHeader(context),
    '',
    'The webhooks of (a), sent to one `parksync serve` process (LOG_LEVEL=warn) with no DATABASE_URL, so it runs PGlite inside ' +
      'its own process, and to the floor server (scripts/bench/floor-server.ts) on its own PGlite database. Each pair runs once with ' +
      'PGlite files in a temporary directory (as `npm start` does with ./data) and once with memory:// (as the tests do). ' +
      `Closed loop, ${CONCURRENCY} requests in flight, ${seconds} s each after a warm-up, parksync and the floor taking turns. ` +
      `Target: at least ${formatCount(TARGET_PER_SECOND)} webhooks/s.`,
    '',
    markdownTable(
      ['storage', 'server', 'webhooks/s', 'p50 ms', 'p99 ms', 'responses', 'throughput vs floor'],
      pairs.flatMap((pair) => [
        row(pair.storage.label, 'floor', pair.floor, '1.00× (baseline)'),
        row(pair.storage.label, 'parksync', pair.parksync, formatRatio(pair.parksync.throughput / pair.floor.throughput)),
      ]),
    ),
    '',
    renderCpu(cpu),
  ].join('\n');
}

export const embeddedItem: BenchItem = {
  name: 'embedded',
  description: '(e) webhook ingest on the embedded PGlite database against the floor on PGlite',
  async run(context: BenchContext): Promise<ItemResult> {
    const pairs: PairResult[] = [];
    for (const storage of STORAGES) pairs.push(await measurePair(context, storage));
    context.log('embedded: CPU profile of parksync on PGlite files');
    const cpu = await profileCpu(context, pairs[0] as PairResult);
    return { sections: [{ item: 'embedded', markdown: render(context, pairs, cpu) }] };
  },
};
