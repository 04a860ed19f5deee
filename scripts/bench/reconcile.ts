import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { request } from 'undici';
import { connect, createPark, nightsFromTomorrow, unitTypeIds } from './lib/admin.ts';
import { megabytes, runHeader, type BenchContext, type BenchItem, type ItemResult } from './lib/context.ts';
import { sampleMemory, type ChildHandle } from './lib/processes.ts';
import { markdownTable } from './lib/report.ts';
import { startStack, type Stack } from './lib/stack.ts';
import { formatCount, formatRatio } from './lib/stats.ts';

/**
 * (d) Reconcile of 50 unit types × 730 nights: a job's time and the peak
 * memory of the `work` process that runs it. Ranges of 90, 365 and 730 nights
 * show whether memory stays flat as the range grows, since the job works
 * window by window. The baseline is the bare reads a reconcile needs: both
 * sides of the range, read once by the benchmark with no comparison.
 */

const PARK = 'recon-park';
const CHANNEL = 'hipcamp';
const UNIT_TYPES = 50;
const NIGHTS = 730;
const RANGES = [90, 365, 730] as const;
/** One night in this many differs at the channel, so each job finds and corrects drift. */
const DRIFT_EVERY = 100;
const TARGET_SECONDS = 3;
const MEMORY_SAMPLE_MS = 20;
const JOB_TIMEOUT_MS = 180_000;

interface JobView {
  state: string;
  checked: number;
  drifted: number;
  corrected: number;
  startedAt: string | null;
  finishedAt: string | null;
  lastError: string | null;
}

interface ReconcileResult {
  nights: number;
  job: JobView;
  jobMs: number;
  idleKb: number;
  peakKb: number;
  baselineMs: number;
}

function allotmentOf(unit: number): number {
  return 1 + (unit % 9);
}

function amountOf(unit: number): string {
  return `${100 + unit}.00`;
}

/** Writes availability and rates on the park side before the connection exists, so nothing waits in the outbox. */
async function stockPark(stack: Stack, units: readonly string[], nights: readonly string[]): Promise<void> {
  const from = nights[0] ?? '';
  const to = nights.at(-1) ?? '';
  await createPark(stack.api, PARK, UNIT_TYPES, []);
  await stack.api.expect('POST', `/parks/${PARK}/availability`, { updates: units.map((unitTypeId, unit) => ({ unitTypeId, from, to, allotment: allotmentOf(unit), minStay: 2 })) }, [200]);
  await stack.api.expect('POST', `/parks/${PARK}/rates`, { currency: 'EUR', updates: units.map((unitTypeId, unit) => ({ unitTypeId, from, to, amount: amountOf(unit) })) }, [200]);
  await connect(stack.api, PARK, { channel: CHANNEL, simulator: stack.simulator.simulator });
}

/** Gives the simulator the park's state directly, then makes one night in DRIFT_EVERY differ. */
function stockChannel(stack: Stack, units: readonly string[], nights: readonly string[]): void {
  const state = stack.simulator.simulator.state;
  const from = nights[0] ?? '';
  const to = nights.at(-1) ?? '';
  units.forEach((unitTypeId, unit) => {
    const restrictions = { stopSell: false, minStay: 2, minStayThrough: null, maxStay: null, closedToArrival: false, closedToDeparture: false };
    state.applyAvailability(CHANNEL, PARK, [{ unitTypeId, from, to, available: allotmentOf(unit), ...restrictions }], 1);
    state.applyRates(CHANNEL, PARK, 'EUR', [{ unitTypeId, ratePlanId: 'standard', from, to, amount: amountOf(unit) }], 1);
  });
  addDrift(stack, units, nights);
}

function addDrift(stack: Stack, units: readonly string[], nights: readonly string[]): void {
  const state = stack.simulator.simulator.state;
  units.forEach((unitTypeId, unit) =>
    nights.forEach((date, night) => {
      if ((unit * nights.length + night) % DRIFT_EVERY !== 0) return;
      state.applyAvailability(CHANNEL, PARK, [{ unitTypeId, from: date, to: date, available: allotmentOf(unit) + 1 }], 1);
    }),
  );
}

/** Reads what a reconcile of the range needs, without comparing: parksync's rows and the channel's view. */
async function readBoth(stack: Stack, from: string, to: string): Promise<number> {
  const client = new pg.Client({ connectionString: stack.database.url });
  await client.connect();
  try {
    const started = performance.now();
    await client.query('select * from availability where park_id = $1 and date between $2 and $3', [PARK, from, to]);
    await client.query('select * from rates where park_id = $1 and date between $2 and $3', [PARK, from, to]);
    const response = await request(`${stack.simulator.url}/channels/${CHANNEL}/view?${new URLSearchParams({ parkId: PARK, from, to })}`);
    await response.body.json();
    return performance.now() - started;
  } finally {
    await client.end();
  }
}

async function waitForJob(stack: Stack, jobId: string): Promise<JobView> {
  const deadline = performance.now() + JOB_TIMEOUT_MS;
  while (performance.now() < deadline) {
    const job = (await stack.api.expect('GET', `/channels/${CHANNEL}/reconcile/${jobId}`, undefined, [200])) as JobView;
    if (job.state === 'succeeded' || job.state === 'failed') return job;
    await sleep(100);
  }
  throw new Error(`reconcile job ${jobId} did not finish within ${JOB_TIMEOUT_MS / 1000} s`);
}

/** Runs one job in a fresh `work` process, so its memory starts from the same idle state for every range. */
async function runJob(context: BenchContext, stack: Stack, units: readonly string[], nights: readonly string[], length: number): Promise<ReconcileResult> {
  const from = nights[0] ?? '';
  const to = nights[length - 1] ?? '';
  addDrift(stack, units, nights);
  const worker: ChildHandle = await stack.startWorker(`reconcile-work-${length}`);
  try {
    await sleep(2_000);
    const idle = worker.memory();
    const sampler = sampleMemory(worker.pid, MEMORY_SAMPLE_MS);
    const queued = (await stack.api.expect('POST', `/channels/${CHANNEL}/reconcile`, { parkId: PARK, from, to }, [202])) as { jobId: string };
    const job = await waitForJob(stack, queued.jobId);
    const memory = sampler.stop();
    if (job.state !== 'succeeded') throw new Error(`reconcile job failed: ${job.lastError ?? 'no error recorded'}`);
    const jobMs = new Date(job.finishedAt ?? '').getTime() - new Date(job.startedAt ?? '').getTime();
    const baselineMs = await readBoth(stack, from, to);
    context.log(`reconcile ${length} nights: ${jobMs} ms, ${job.checked} checked, ${job.drifted} drifted, peak ${megabytes(memory.peakRssKb)}`);
    return { nights: length, job, jobMs, idleKb: idle?.rssKb ?? Number.NaN, peakKb: Math.max(memory.peakRssKb, memory.kernelPeakRssKb), baselineMs };
  } finally {
    await worker.stop();
  }
}

function render(context: BenchContext, results: readonly ReconcileResult[]): string {
  const growth = (result: ReconcileResult) => result.peakKb - result.idleKb;
  const first = results[0];
  return [
    `## (d) Reconcile of ${UNIT_TYPES} unit types × ${NIGHTS} nights`,
    '',
    runHeader(context),
    '',
    `The park has ${UNIT_TYPES} unit types with availability (and a minimum stay) and a rate on each of ${NIGHTS} nights, ` +
      `and one connection whose simulator view holds the same state except one night in ${DRIFT_EVERY}. Each job runs in a fresh ` +
      '`parksync work` process (it picks queued jobs up every 5 s) on a scratch PostgreSQL database. Time is the job\'s own ' +
      '`startedAt` to `finishedAt`; memory is the resident set size of that process, sampled from /proc every ' +
      `${MEMORY_SAMPLE_MS} ms and from the kernel's peak (VmHWM). The baseline reads the same range once: parksync's availability ` +
      `and rate rows in two queries, and the channel's view in one request. Target: under ${TARGET_SECONDS} s for ${NIGHTS} nights.`,
    '',
    markdownTable(
      ['range', 'checked', 'drifted (corrected)', 'job s', 'baseline read s', 'job vs baseline', 'RSS idle', 'RSS peak', 'growth', `peak vs ${first?.nights ?? ''}-night job`],
      results.map((result) => [
        `${result.nights} nights`,
        formatCount(result.job.checked),
        `${formatCount(result.job.drifted)} (${formatCount(result.job.corrected)})`,
        (result.jobMs / 1000).toFixed(2),
        (result.baselineMs / 1000).toFixed(2),
        formatRatio(result.jobMs / result.baselineMs),
        megabytes(result.idleKb),
        megabytes(result.peakKb),
        megabytes(growth(result)),
        first ? formatRatio(result.peakKb / first.peakKb) : 'n/a',
      ]),
    ),
  ].join('\n');
}

export const reconcileItem: BenchItem = {
  name: 'reconcile',
  description: `(d) reconcile of ${UNIT_TYPES} unit types × ${NIGHTS} nights: time and peak memory`,
  async run(context: BenchContext): Promise<ItemResult> {
    const stack = await startStack({ name: 'reconcile', workDir: context.workDir, worker: false });
    try {
      const units = unitTypeIds(UNIT_TYPES);
      const nights = nightsFromTomorrow(NIGHTS);
      await stockPark(stack, units, nights);
      stockChannel(stack, units, nights);
      const results = [];
      for (const length of RANGES) results.push(await runJob(context, stack, units, nights, length));
      return { sections: [{ item: 'reconcile', markdown: render(context, results) }] };
    } finally {
      await stack.stop();
    }
  },
};
