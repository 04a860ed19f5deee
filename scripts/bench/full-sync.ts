import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { generateSigningSecret } from '../../src/channels/secrets.ts';
import { createPark, nightsFromTomorrow, unitTypeIds } from './lib/admin.ts';
import { runHeader, type BenchContext, type BenchItem, type ItemResult } from './lib/context.ts';
import { LoadClient } from './lib/load.ts';
import { availabilityPush, type AvailabilityNightValue } from './lib/push.ts';
import { markdownTable } from './lib/report.ts';
import { startStack, type Stack } from './lib/stack.ts';
import { formatCount, formatRatio } from './lib/stats.ts';

/**
 * (c) Full sync of 20 unit types × 500 nights to one connection: the park
 * side writes every night, and the one connection receives them all through
 * the outbox. Two shapes: every night differs from the next (no two nights
 * bundle into one range, the worst case), and one value per unit type (each
 * unit type bundles into one range). The baseline sends the same ranges
 * straight to the simulator, in requests of the adapter's maximum size.
 */

const UNIT_TYPES = 20;
const NIGHTS = 500;
/** Most updates the admin availability endpoint takes in one request. */
const UPDATES_PER_WRITE = 500;
/** Most ranges the generic JSON adapter puts in one delivery. */
const RANGES_PER_PUSH = 1000;
const DONE_TIMEOUT_MS = 180_000;

interface Shape {
  name: string;
  parkId: string;
  channel: string;
  /** Allotment of unit type `unit` (0-based) on night `night` (0-based). */
  allotment(unit: number, night: number): number;
  /** The park-side writes: update lists, each at most UPDATES_PER_WRITE long. */
  writes(units: readonly string[], nights: readonly string[]): AvailabilityNightValue[][];
}

const SHAPES: readonly Shape[] = [
  {
    name: 'every night differs',
    parkId: 'sync-varied',
    channel: 'hipcamp',
    // (unit + night) mod 7 changes from each night to the next, so no range covers two nights.
    allotment: (unit, night) => 1 + ((unit + night) % 7),
    writes(units, nights) {
      const updates = units.flatMap((unitTypeId, unit) => nights.map((date, night) => ({ unitTypeId, from: date, to: date, available: this.allotment(unit, night) })));
      const chunks: AvailabilityNightValue[][] = [];
      for (let start = 0; start < updates.length; start += UPDATES_PER_WRITE) chunks.push(updates.slice(start, start + UPDATES_PER_WRITE));
      return chunks;
    },
  },
  {
    name: 'one value per unit type',
    parkId: 'sync-uniform',
    channel: 'pitchup',
    allotment: (unit) => 1 + (unit % 7),
    writes(units, nights) {
      return [units.map((unitTypeId, unit) => ({ unitTypeId, from: nights[0] ?? '', to: nights.at(-1) ?? '', available: this.allotment(unit, 0) }))];
    },
  },
];

interface SyncResult {
  shape: Shape;
  writeRequests: number;
  writeMs: number;
  /** From the resume request to the last night applied at the channel. */
  totalMs: number;
  pushes: number;
  pushStatuses: string;
  deliveries: number;
  ranges: number;
  directPushes: number;
  directMs: number;
}

async function deliveryStats(databaseUrl: string, parkId: string): Promise<{ deliveries: number; ranges: number }> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const result = await client.query<{ deliveries: string; ranges: string | null }>(
      `select count(*) as deliveries, sum(jsonb_array_length(payload->'updates')) as ranges
       from outbound_deliveries where park_id = $1 and state = 'delivered'`,
      [parkId],
    );
    return { deliveries: Number(result.rows[0]?.deliveries ?? 0), ranges: Number(result.rows[0]?.ranges ?? 0) };
  } finally {
    await client.end();
  }
}

/** Sends the same nights straight to the simulator, one push after the other as the outbox does, and returns the push count and time. */
async function sendDirect(stack: Stack, shape: Shape, units: readonly string[], nights: readonly string[]): Promise<{ pushes: number; ms: number }> {
  const channel = 'direct';
  const parkId = `${shape.parkId}-direct`;
  const secret = generateSigningSecret();
  stack.simulator.simulator.state.registerConnection(channel, parkId, secret);
  const ranges = shape.writes(units, nights).flat();
  const client = new LoadClient(stack.simulator.url, 1);
  const started = performance.now();
  let pushes = 0;
  try {
    for (let start = 0; start < ranges.length; start += RANGES_PER_PUSH) {
      pushes += 1;
      const outcome = await client.send(availabilityPush(channel, parkId, secret, pushes, ranges.slice(start, start + RANGES_PER_PUSH)));
      if (outcome.status !== 200) throw new Error(`direct push to the simulator returned ${outcome.status}: ${outcome.body.slice(0, 300)}`);
    }
    return { pushes, ms: performance.now() - started };
  } finally {
    await client.close();
  }
}

async function runShape(context: BenchContext, stack: Stack, shape: Shape): Promise<SyncResult> {
  const units = unitTypeIds(UNIT_TYPES);
  const nights = nightsFromTomorrow(NIGHTS);
  await createPark(stack.api, shape.parkId, UNIT_TYPES, [{ channel: shape.channel, simulator: stack.simulator.simulator }]);

  const expected = new Map<string, number>();
  units.forEach((unitTypeId, unit) => nights.forEach((date, night) => expected.set(`${unitTypeId}|${date}`, shape.allotment(unit, night))));
  const arrived = new Set<string>();
  let lastArrival = 0;
  const removeListener = stack.simulator.onArrival((arrival) => {
    if (arrival.parkId !== shape.parkId || arrival.channel !== shape.channel) return;
    const key = `${arrival.unitTypeId}|${arrival.date}`;
    if (expected.get(key) === arrival.available && !arrived.has(key)) {
      arrived.add(key);
      lastArrival = arrival.at;
    }
  });

  try {
    // The connection waits, paused, while the park side writes, so the time below is the outbound sync alone.
    await stack.api.expect('POST', `/channels/${shape.channel}/pause`, { parkId: shape.parkId, reason: 'benchmark: write the nights first' }, [200]);
    const writes = shape.writes(units, nights);
    const writeStarted = performance.now();
    for (const updates of writes) {
      const body = { updates: updates.map(({ available, ...night }) => ({ ...night, allotment: available })) };
      await stack.api.expect('POST', `/parks/${shape.parkId}/availability`, body, [200]);
    }
    const writeMs = performance.now() - writeStarted;
    const started = performance.now();
    await stack.api.expect('POST', `/channels/${shape.channel}/resume`, { parkId: shape.parkId, force: true, note: 'benchmark' }, [200]);
    const deadline = started + DONE_TIMEOUT_MS;
    while (arrived.size < expected.size && performance.now() < deadline) await sleep(20);
    if (arrived.size < expected.size) throw new Error(`${shape.name}: only ${arrived.size} of ${expected.size} nights reached the channel in ${DONE_TIMEOUT_MS / 1000} s`);

    const log = stack.simulator.simulator.state.receivedLog({ channel: shape.channel, parkId: shape.parkId });
    const statusCounts = new Map<string, number>();
    for (const item of log.items) statusCounts.set(item.status, (statusCounts.get(item.status) ?? 0) + 1);
    const stats = await deliveryStats(stack.database.url, shape.parkId);
    const direct = await sendDirect(stack, shape, units, nights);
    const result: SyncResult = {
      shape,
      writeRequests: writes.length,
      writeMs,
      totalMs: lastArrival - started,
      pushes: log.items.length,
      pushStatuses: [...statusCounts].map(([status, count]) => `${status} ${count}`).join(', '),
      deliveries: stats.deliveries,
      ranges: stats.ranges,
      directPushes: direct.pushes,
      directMs: direct.ms,
    };
    context.log(`full sync, ${shape.name}: ${result.pushes} pushes, ${(result.totalMs / 1000).toFixed(2)} s`);
    return result;
  } finally {
    removeListener();
  }
}

function seconds(ms: number): string {
  return (ms / 1000).toFixed(2);
}

function render(context: BenchContext, results: readonly SyncResult[]): string {
  return [
    `## (c) Full sync of ${UNIT_TYPES} unit types × ${NIGHTS} nights to one connection`,
    '',
    runHeader(context),
    '',
    `The park's one connection is paused while the park side writes all ${formatCount(UNIT_TYPES * NIGHTS)} nights through ` +
      `\`POST /parks/{parkId}/availability\` (at most ${UPDATES_PER_WRITE} updates per request), so every night waits as an outbound mark. ` +
      'Then the connection is resumed (with force), and the sync time runs from the resume request to the moment the simulator ' +
      'applied the last night with its final value. parksync runs as one `serve` and one `work` process with default settings ' +
      '(outbound limit 10/s with a burst of 20) on a scratch PostgreSQL database. ' +
      `The baseline sends the same ranges straight to the simulator, ${formatCount(RANGES_PER_PUSH)} ranges per push (the generic JSON ` +
      'adapter\'s limit), one push after the other.',
    '',
    markdownTable(
      ['shape', 'park-side writes', 'write time s', 'outbound requests', 'ranges sent', 'sync time s', 'direct pushes', 'direct s', 'sync vs direct'],
      results.map((result) => [
        result.shape.name,
        String(result.writeRequests),
        seconds(result.writeMs),
        `${result.pushes} (${result.pushStatuses})`,
        formatCount(result.ranges),
        seconds(result.totalMs),
        String(result.directPushes),
        seconds(result.directMs),
        formatRatio(result.totalMs / result.directMs),
      ]),
    ),
  ].join('\n');
}

export const fullSyncItem: BenchItem = {
  name: 'full-sync',
  description: `(c) full sync of ${UNIT_TYPES} unit types × ${NIGHTS} nights to one connection`,
  async run(context: BenchContext): Promise<ItemResult> {
    const stack = await startStack({ name: 'full-sync', workDir: context.workDir, worker: true });
    try {
      const results = [];
      for (const shape of SHAPES) results.push(await runShape(context, stack, shape));
      return { sections: [{ item: 'full-sync', markdown: render(context, results) }] };
    } finally {
      await stack.stop();
    }
  },
};
