import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createPark, AdminApi, nightsFromTomorrow, unitTypeIds } from './lib/admin.ts';
import { megabytes, newAdminToken, phaseMs, runHeader, type BenchContext, type BenchItem, type ItemResult } from './lib/context.ts';
import { findCpuProfile, summarizeCpuProfile, type CpuShare, type CpuSummary } from './lib/cpu-profile.ts';
import { describeStatuses, LoadClient, runClosedLoop, runOpenLoop, type PhaseResult } from './lib/load.ts';
import { sampleMemory, startFloorProcess, startServiceProcess, stopAll, type ChildHandle } from './lib/processes.ts';
import { markdownTable } from './lib/report.ts';
import { readDatabaseUsage, usagePer } from './lib/database-usage.ts';
import { createScratchDatabase } from './lib/scratch-db.ts';
import { formatCount, formatMs, formatRatio } from './lib/stats.ts';
import { AvailabilityWebhooks, type WebhookTarget } from './lib/webhooks.ts';
import { profilePipeline, type PipelineProfile } from './profile.ts';

/**
 * (a) Ingest of signed availability webhooks on PostgreSQL, against the bare
 * floor (floor-server.ts) on the same server, and (f) the memory of the
 * parksync process during and after that load.
 */

const PARK = 'ingest-park';
const UNIT_TYPES = 20;
const NIGHTS = 1000;
/** Requests in flight at saturation: a few per pooled database connection (parksync and the floor both open 10). */
const CONCURRENCY = 32;
/** The two fixed rates, as fractions of parksync's saturation throughput in the same run. */
const RATE_FRACTIONS = [0.25, 0.5] as const;
const PROFILE_REQUESTS = 300;
/** Saturation rounds per server; the servers take turns, and the ratio is the median of the rounds' ratios. */
const SATURATION_ROUNDS = 5;
const MEMORY_SAMPLE_MS = 250;
const AFTER_LOAD_WAIT_MS = 10_000;

interface Contender {
  label: string;
  handle: ChildHandle;
  client: LoadClient;
  webhooks: AvailabilityWebhooks;
}

interface MemoryRow {
  label: string;
  idleKb: number;
  peakKb: number;
  afterKb: number;
}

function phase(contender: Contender, name: string, context: BenchContext, run: 'warm-up' | 'saturation'): Promise<PhaseResult> {
  const durationMs = run === 'warm-up' ? phaseMs(context, 3, 1) : phaseMs(context, 5, 2);
  return runClosedLoop({
    name,
    client: contender.client,
    durationMs,
    concurrency: CONCURRENCY,
    next: () => contender.webhooks.next(),
    expectStatus: 202,
  });
}

interface SaturationResult extends PhaseResult {
  /** CPU time of the server process per accepted webhook, in milliseconds. */
  serverCpuMs: number;
  /** CPU time of this benchmark process (the load generator) as a share of one CPU during the phase. */
  generatorCpuShare: number;
  /** CPU time of the PostgreSQL processes per accepted webhook, in milliseconds. */
  databaseCpuMs: number;
  /** WAL the server wrote per accepted webhook, in bytes. */
  walBytes: number;
}

async function saturation(contender: Contender, context: BenchContext, databaseUrl: string): Promise<SaturationResult> {
  const databaseBefore = await readDatabaseUsage(databaseUrl);
  const cpuBefore = contender.handle.cpuMs();
  const generatorBefore = process.cpuUsage();
  const result = await phase(contender, `${contender.label} saturation`, context, 'saturation');
  const generator = process.cpuUsage(generatorBefore);
  const serverCpuMs = (contender.handle.cpuMs() - cpuBefore) / Math.max(1, result.ok);
  const database = await usagePer(databaseUrl, databaseBefore, await readDatabaseUsage(databaseUrl), result.ok);
  return {
    ...result,
    serverCpuMs,
    generatorCpuShare: (generator.user + generator.system) / 1000 / result.durationMs,
    databaseCpuMs: database.cpuMs,
    walBytes: database.walBytes,
  };
}

function fixedRate(contender: Contender, rate: number, context: BenchContext): Promise<PhaseResult> {
  return runOpenLoop({
    name: `${contender.label} at ${rate}/s`,
    client: contender.client,
    durationMs: phaseMs(context, 10, 4),
    rate,
    next: () => contender.webhooks.next(),
    expectStatus: 202,
  });
}

function roundRate(value: number): number {
  return Math.max(10, Math.round(value / 10) * 10);
}

async function withContenders<T>(context: BenchContext, work: (setup: Setup) => Promise<T>): Promise<T> {
  const database = await createScratchDatabase();
  const handles: Array<ChildHandle | undefined> = [];
  const clients: LoadClient[] = [];
  try {
    const adminToken = newAdminToken();
    const parksync = await startServiceProcess({ name: 'ingest-parksync', role: 'serve', databaseUrl: database.url, adminToken, logDir: context.workDir });
    handles.push(parksync);
    const api = new AdminApi(parksync.url ?? '', adminToken);
    const secrets = await createPark(api, PARK, UNIT_TYPES, [{ channel: 'booking', webhooksOn: true }, { channel: 'hipcamp' }]);
    const secret = secrets.booking ?? '';
    const target: WebhookTarget = { channel: 'booking', parkId: PARK, secret, unitTypeIds: unitTypeIds(UNIT_TYPES), nights: nightsFromTomorrow(NIGHTS) };
    const floor = await startFloorProcess({ name: 'ingest-floor', databaseUrl: database.url, secret, logDir: context.workDir });
    handles.push(floor);
    const make = (label: string, handle: ChildHandle): Contender => {
      const client = new LoadClient(handle.url ?? '', CONCURRENCY * 4);
      clients.push(client);
      return { label, handle, client, webhooks: new AvailabilityWebhooks(target) };
    };
    return await work({
      databaseUrl: database.url,
      adminToken,
      target,
      parksync: make('parksync', parksync),
      floor: make('floor', floor),
      startFloorExtra: async (name, nodeArgs) => {
        const extra = await startFloorProcess({ name, databaseUrl: database.url, secret, logDir: context.workDir, nodeArgs });
        handles.push(extra);
        return extra;
      },
      startExtra: async (name, logLevel, nodeArgs) => {
        const extra = await startServiceProcess({ name, role: 'serve', databaseUrl: database.url, adminToken, logDir: context.workDir, logLevel, ...(nodeArgs ? { nodeArgs } : {}) });
        handles.push(extra);
        return extra;
      },
    });
  } finally {
    await Promise.all(clients.map((client) => client.close()));
    await stopAll(handles);
    await database.drop();
  }
}

interface Setup {
  databaseUrl: string;
  adminToken: string;
  target: WebhookTarget;
  parksync: Contender;
  floor: Contender;
  startExtra(name: string, logLevel: string, nodeArgs?: string[]): Promise<ChildHandle>;
  startFloorExtra(name: string, nodeArgs: string[]): Promise<ChildHandle>;
}

type ProfiledRun = CpuSummary & { throughput: number };

interface IngestResults {
  saturation: { parksync: SaturationResult; floor: SaturationResult; parksyncInfo: SaturationResult };
  /** Every saturation round, in the order run; `saturation` is the round with the median ratio. */
  rounds: SaturationRound[];
  rates: Array<{ rate: number; parksync: PhaseResult; floor: PhaseResult }>;
  memory: MemoryRow[];
  profile: PipelineProfile;
  cpu: { parksync: ProfiledRun; floor: ProfiledRun };
}

async function measure(context: BenchContext, setup: Setup): Promise<IngestResults> {
  const { parksync, floor } = setup;
  const samplers = [parksync, floor].map((contender) => ({ contender, idle: contender.handle.memory(), sampler: sampleMemory(contender.handle.pid, MEMORY_SAMPLE_MS) }));

  context.log('ingest: warm-up');
  await phase(parksync, 'parksync warm-up', context, 'warm-up');
  await phase(floor, 'floor warm-up', context, 'warm-up');

  // The two servers take turns, round after round, so a slow spell of this shared machine hits both rather than one.
  context.log('ingest: saturation');
  const rounds = await saturationRounds(parksync, floor, context, setup.databaseUrl);
  const { parksync: parksyncSaturation, floor: floorSaturation } = medianRound(rounds);

  const rates = [];
  for (const fraction of RATE_FRACTIONS) {
    const rate = roundRate(parksyncSaturation.throughput * fraction);
    context.log(`ingest: fixed rate ${rate}/s`);
    rates.push({ rate, parksync: await fixedRate(parksync, rate, context), floor: await fixedRate(floor, rate, context) });
  }

  context.log('ingest: memory after the load');
  await sleep(AFTER_LOAD_WAIT_MS);
  const memory = samplers.map(({ contender, idle, sampler }) => {
    const sampled = sampler.stop();
    const after = contender.handle.memory();
    return {
      label: contender.label,
      idleKb: idle?.rssKb ?? Number.NaN,
      peakKb: Math.max(sampled.peakRssKb, sampled.kernelPeakRssKb),
      afterKb: after?.rssKb ?? Number.NaN,
    };
  });

  context.log('ingest: parksync with LOG_LEVEL=info');
  const infoProcess = await setup.startExtra('ingest-parksync-info', 'info');
  const infoContender: Contender = { label: 'parksync (info)', handle: infoProcess, client: new LoadClient(infoProcess.url ?? '', CONCURRENCY * 4), webhooks: parksync.webhooks };
  let parksyncInfo: SaturationResult;
  try {
    await phase(infoContender, 'parksync info warm-up', context, 'warm-up');
    parksyncInfo = await saturation(infoContender, context, setup.databaseUrl);
  } finally {
    await infoContender.client.close();
    await infoProcess.stop();
  }

  context.log('ingest: CPU profiles at saturation');
  const cpu = {
    parksync: await profileCpu(context, 'parksync', setup.parksync.webhooks, (nodeArgs) => setup.startExtra('ingest-parksync-cpu-profile', 'warn', nodeArgs)),
    floor: await profileCpu(context, 'floor', setup.floor.webhooks, (nodeArgs) => setup.startFloorExtra('ingest-floor-cpu-profile', nodeArgs)),
  };

  context.log('ingest: profile, one webhook at a time');
  const profile = await profilePipeline({
    databaseUrl: setup.databaseUrl,
    adminToken: setup.adminToken,
    workDir: context.workDir,
    requests: context.quick ? 100 : PROFILE_REQUESTS,
    webhooks: parksync.webhooks,
    floorUrl: floor.handle.url ?? '',
    floorWebhooks: floor.webhooks,
  });

  return { saturation: { parksync: parksyncSaturation, floor: floorSaturation, parksyncInfo }, rounds, rates, memory, profile, cpu };
}

interface SaturationRound {
  parksync: SaturationResult;
  floor: SaturationResult;
}

const roundRatio = (round: SaturationRound) => round.parksync.throughput / round.floor.throughput;

/** Runs the saturation rounds; the server that goes first alternates from round to round. */
async function saturationRounds(parksync: Contender, floor: Contender, context: BenchContext, databaseUrl: string): Promise<SaturationRound[]> {
  const rounds: SaturationRound[] = [];
  for (let round = 0; round < SATURATION_ROUNDS; round += 1) {
    if (round % 2 === 0) {
      const ours = await saturation(parksync, context, databaseUrl);
      rounds.push({ parksync: ours, floor: await saturation(floor, context, databaseUrl) });
    } else {
      const theirs = await saturation(floor, context, databaseUrl);
      rounds.push({ parksync: await saturation(parksync, context, databaseUrl), floor: theirs });
    }
  }
  return rounds;
}

/** Returns the round whose throughput ratio is the median of all rounds. */
function medianRound(rounds: readonly SaturationRound[]): SaturationRound {
  const sorted = [...rounds].sort((a, b) => roundRatio(a) - roundRatio(b));
  const median = sorted[Math.floor(sorted.length / 2)];
  if (!median) throw new Error('no saturation round ran');
  return median;
}

/** Runs another process of the server under `node --cpu-prof` through a warm-up and a saturation phase, and sums its profile. */
async function profileCpu(
  context: BenchContext,
  label: string,
  webhooks: AvailabilityWebhooks,
  start: (nodeArgs: string[]) => Promise<ChildHandle>,
): Promise<ProfiledRun> {
  const directory = path.join(context.workDir, `cpu-profile-${label}`);
  mkdirSync(directory, { recursive: true });
  const child = await start(['--cpu-prof', `--cpu-prof-dir=${directory}`]);
  const contender: Contender = { label: `${label} (profiled)`, handle: child, client: new LoadClient(child.url ?? '', CONCURRENCY * 4), webhooks };
  let result: PhaseResult;
  try {
    await phase(contender, `${label} profiled warm-up`, context, 'warm-up');
    result = await phase(contender, `${label} profiled saturation`, context, 'saturation');
  } finally {
    await contender.client.close();
    await child.stop();
  }
  return { ...summarizeCpuProfile(findCpuProfile(directory), 12), throughput: result.throughput };
}

function latencyCells(result: PhaseResult): string[] {
  return [formatMs(result.latency.p50), formatMs(result.latency.p99)];
}

function renderIngest(context: BenchContext, results: IngestResults): string {
  const { parksync, floor, parksyncInfo } = results.saturation;
  const row = (label: string, result: SaturationResult, ratio: string) => [
    label,
    formatCount(result.throughput),
    ...latencyCells(result),
    describeStatuses(result.statuses),
    result.serverCpuMs.toFixed(2),
    result.databaseCpuMs.toFixed(2),
    formatCount(result.walBytes),
    `${(result.generatorCpuShare * 100).toFixed(0)} %`,
    ratio,
  ];
  const saturation = markdownTable(
    ['server', 'webhooks/s', 'p50 ms', 'p99 ms', 'responses', 'server CPU ms per webhook', 'PostgreSQL CPU ms per webhook', 'WAL bytes per webhook', 'load generator CPU', 'throughput vs floor'],
    [
      row('floor', floor, '1.00× (baseline)'),
      row('parksync', parksync, formatRatio(parksync.throughput / floor.throughput)),
      row('parksync, LOG_LEVEL=info', parksyncInfo, formatRatio(parksyncInfo.throughput / floor.throughput)),
    ],
  );
  const rates = markdownTable(
    ['rate', 'server', 'achieved/s', 'p50 ms', 'p99 ms', 'responses', 'kept the rate', 'p99 vs floor'],
    results.rates.flatMap(({ rate, parksync: ours, floor: theirs }) => [
      [`${rate}/s`, 'floor', formatCount(theirs.throughput), ...latencyCells(theirs), describeStatuses(theirs.statuses), theirs.sustained ? 'yes' : 'no', '1.00× (baseline)'],
      [`${rate}/s`, 'parksync', formatCount(ours.throughput), ...latencyCells(ours), describeStatuses(ours.statuses), ours.sustained ? 'yes' : 'no', formatRatio(ours.latency.p99 / theirs.latency.p99)],
    ]),
  );
  const saturationSeconds = (parksync.durationMs / 1000).toFixed(0);
  const roundRows = markdownTable(
    ['round', 'first', 'floor webhooks/s', 'parksync webhooks/s', 'parksync vs floor'],
    results.rounds.map((round, index) => [
      String(index + 1),
      index % 2 === 0 ? 'parksync' : 'floor',
      formatCount(round.floor.throughput),
      formatCount(round.parksync.throughput),
      formatRatio(roundRatio(round)),
    ]),
  );
  return [
    '## (a) Ingest of signed availability webhooks on PostgreSQL',
    '',
    runHeader(context),
    '',
    `Each webhook sets the allotment of one unit type on one night (${UNIT_TYPES} unit types × ${NIGHTS} nights, taken in turn, ` +
      'each with a higher X-Version on its next turn) and is signed with the connection secret. parksync runs as one ' +
      '`parksync serve` process with LOG_LEVEL=warn on a scratch database; the park has a second connection, so each ' +
      'webhook also writes one outbound mark. The floor (scripts/bench/floor-server.ts) is one Fastify route that checks ' +
      'the same HMAC and timestamp, then runs BEGIN, an idempotency insert, an availability upsert guarded by the version, ' +
      'an event insert, an outbox upsert and COMMIT, on the same PostgreSQL server. Each opens at most 10 connections: the floor ' +
      'in one pool, parksync in two pools of 5 (one for its prepared webhook statements, docs/architecture.md).',
    '',
    `Saturation: closed loop, ${CONCURRENCY} requests in flight, after a warm-up, in ${SATURATION_ROUNDS} rounds of ${saturationSeconds} s per server. ` +
      'The two servers take turns and the one that goes first alternates. The table shows the round whose ratio is the median of ' +
      'the rounds (all rounds are listed below it), since a slow spell of this shared machine can halve one phase. ' +
      'The LOG_LEVEL=info row is a second parksync process on the same database, measured after the others. ' +
      'PostgreSQL CPU sums every `postgres` process on the machine (the server runs here), and WAL bytes come from ' +
      'pg_current_wal_lsn() before and after the phase.',
    '',
    saturation,
    '',
    roundRows,
    '',
    'Fixed rates: open loop at 25 % and 50 % of the parksync saturation throughput above. Latency counts from the moment ' +
      'each request was due, so time spent queueing in the generator is included.',
    '',
    rates,
    '',
    renderProfile(results.profile),
    '',
    renderCpu(results.cpu),
  ].join('\n');
}

function renderProfile(profile: PipelineProfile): string {
  const top = profile.statements.slice(0, 12).map((stats) => [
    `\`${stats.statement.replace(/\|/g, '\\|')}\``,
    stats.perRequest.toFixed(2),
    stats.msPerRequest.toFixed(3),
  ]);
  return [
    '### Where a webhook spends its time',
    '',
    `parksync ran inside the benchmark process with every node-postgres query counted (scripts/bench/lib/query-counter.ts), ` +
      `and took ${profile.requests} webhooks one at a time after a warm-up; the floor took as many, one at a time.`,
    '',
    markdownTable(
      ['one webhook at a time', 'parksync', 'floor', 'parksync vs floor'],
      [
        ['p50 latency, ms', formatMs(profile.latency.p50), formatMs(profile.floorLatency.p50), formatRatio(profile.latency.p50 / profile.floorLatency.p50)],
        ['p99 latency, ms', formatMs(profile.latency.p99), formatMs(profile.floorLatency.p99), formatRatio(profile.latency.p99 / profile.floorLatency.p99)],
        ['database round trips', profile.roundTripsPerRequest.toFixed(1), '6 (BEGIN, 4 statements, COMMIT)', formatRatio(profile.roundTripsPerRequest / 6)],
        ['time waiting for PostgreSQL, ms (mean)', formatMs(profile.databaseMsPerRequest), 'n/a', ''],
        ['everything else, ms (mean latency − database time)', formatMs(profile.latency.mean - profile.databaseMsPerRequest), 'n/a', ''],
      ],
    ),
    '',
    'The statements parksync sends per webhook, by total time:',
    '',
    markdownTable(['statement (first 90 characters)', 'per webhook', 'ms per webhook'], top),
  ].join('\n');
}

/** Builds one row per name in either top list, with each process's share, and "–" where a name is not among that process's top entries. */
function sideBySide(parksync: readonly CpuShare[], floor: readonly CpuShare[], limit: number): string[][] {
  const names = [...new Set([...parksync.slice(0, limit), ...floor.slice(0, limit)].map((entry) => entry.name))];
  const cell = (shares: readonly CpuShare[], name: string) => {
    const entry = shares.find((candidate) => candidate.name === name);
    return entry ? `${(entry.share * 100).toFixed(1)} %` : '–';
  };
  return names.map((name) => [`\`${name.replace(/\|/g, '\\|')}\``, cell(parksync, name), cell(floor, name)]);
}

function renderCpu(cpu: IngestResults['cpu']): string {
  return [
    '### Where the server process spends its CPU at saturation',
    '',
    'Another process of each server ran under `node --cpu-prof` through a warm-up and a saturation phase ' +
      `(parksync ${formatCount(cpu.parksync.throughput)} webhooks/s and the floor ${formatCount(cpu.floor.throughput)} webhooks/s while profiled; ` +
      `the profiler slows both down). Samples without idle time and without module loading at start-up: ${formatCount(cpu.parksync.busyMs)} ms ` +
      `for parksync, ${formatCount(cpu.floor.busyMs)} ms for the floor (scripts/bench/lib/cpu-profile.ts). The first table gives each sample ` +
      'to the innermost package or src/ folder on its stack, so a socket write that node-postgres asked for counts for `pg`; ' +
      'the second gives the function that was running. A dash means the name is not among that process\'s top 12.',
    '',
    markdownTable(['caller', 'parksync', 'floor'], sideBySide(cpu.parksync.byCaller, cpu.floor.byCaller, 8)),
    '',
    markdownTable(['function (self time)', 'parksync', 'floor'], sideBySide(cpu.parksync.byFunction, cpu.floor.byFunction, 8)),
  ].join('\n');
}

function renderMemory(context: BenchContext, results: IngestResults): string {
  const floor = results.memory.find((row) => row.label === 'floor');
  const rows = results.memory.map((row) => [
    row.label,
    megabytes(row.idleKb),
    megabytes(row.peakKb),
    megabytes(row.afterKb),
    row.label === 'floor' ? '1.00× (baseline)' : formatRatio(row.peakKb / (floor?.peakKb ?? Number.NaN)),
  ]);
  return [
    '## (f) Memory of the service during and after the ingest load',
    '',
    runHeader(context),
    '',
    `Resident set size of the processes in (a), read from /proc every ${MEMORY_SAMPLE_MS} ms and from the kernel's peak ` +
      `(VmHWM): idle after setup, the peak over warm-up, saturation and both fixed rates, and ${AFTER_LOAD_WAIT_MS / 1000} s after the load stopped.`,
    '',
    markdownTable(['process', 'idle', 'peak during the load', 'after the load', 'peak vs floor'], rows),
  ].join('\n');
}

export const ingestItem: BenchItem = {
  name: 'ingest',
  description: '(a) webhook ingest on PostgreSQL against the bare floor, the pipeline profile, and (f) memory',
  async run(context: BenchContext): Promise<ItemResult> {
    const results = await withContenders(context, (setup) => measure(context, setup));
    const { parksync, floor } = results.saturation;
    context.log(
      `ingest: parksync ${formatCount(parksync.throughput)}/s, floor ${formatCount(floor.throughput)}/s, ratio ${formatRatio(parksync.throughput / floor.throughput)}; ` +
        `${results.profile.roundTripsPerRequest.toFixed(1)} round trips per webhook`,
    );
    return {
      sections: [
        { item: 'ingest', markdown: renderIngest(context, results) },
        { item: 'memory', markdown: renderMemory(context, results) },
      ],
    };
  },
};
