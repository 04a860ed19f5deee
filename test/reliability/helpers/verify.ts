import { channelMismatches, deliveriesByState, eventually, keysAppliedTwice, missingEvents, outboundBacklog, wrongAllotments } from './checks.ts';
import { PARK, RECEIVERS, SENDER, type Deployment } from './deployment.ts';
import { expect } from 'vitest';
import type { ChannelSender } from './sender.ts';

/** Everything the reliability tests check after a failure, gathered once so each test can assert each part on its own. */
export interface Outcome {
  webhooks: number;
  /** Webhooks that never got a 202, even after retries. */
  unacknowledged: number;
  /** Acknowledged webhooks whose event row is missing. */
  missingEvents: string[];
  /** Idempotency keys applied more than once. */
  keysAppliedTwice: Array<{ key: string; count: number }>;
  /** Nights whose allotment is not what their acknowledged webhook set. */
  wrongAllotments: string[];
  /** True when no dirty night and no open delivery was left before the wait ran out. */
  drained: boolean;
  /** Nights where a receiving channel's view differs from parksync. */
  channelMismatches: string[];
  /** Delivery ids the simulator applied more than once (it should refuse that itself). */
  deliveriesAppliedTwice: string[];
  /** Pushes that arrived while another with the same delivery id was still being handled. */
  concurrentDuplicates: number;
  /** Repeated pushes of a delivery, answered from the simulator's stored response. */
  repeatedPushes: number;
  deliveries: Record<string, Record<string, number>>;
}

export async function collectOutcome(deployment: Deployment, sender: ChannelSender, timeouts: { settleMs: number; drainMs: number }): Promise<Outcome> {
  const unacknowledged = await sender.settle(timeouts.settleMs);
  const { databaseUrl, simulator } = deployment;
  const drained = await eventually(async () => {
    if ((await outboundBacklog(databaseUrl, PARK)) > 0) return false;
    for (const channel of RECEIVERS) if ((await channelMismatches(databaseUrl, simulator, PARK, channel)).length > 0) return false;
    return true;
  }, timeouts.drainMs);

  const mismatches = [];
  for (const channel of RECEIVERS) mismatches.push(...(await channelMismatches(databaseUrl, simulator, PARK, channel)));
  const log = simulator.simulator.state.receivedLog({ parkId: PARK });
  const appliedCount = new Map<string, number>();
  for (const item of log.items) {
    if (item.status === 'applied' && item.idempotencyKey) appliedCount.set(item.idempotencyKey, (appliedCount.get(item.idempotencyKey) ?? 0) + 1);
  }
  const deliveries: Outcome['deliveries'] = {};
  for (const channel of RECEIVERS) deliveries[channel] = await deliveriesByState(databaseUrl, PARK, channel);

  return {
    webhooks: sender.webhooks.length,
    unacknowledged,
    missingEvents: await missingEvents(databaseUrl, sender.webhooks),
    keysAppliedTwice: await keysAppliedTwice(databaseUrl, SENDER),
    wrongAllotments: await wrongAllotments(databaseUrl, PARK, sender.webhooks),
    drained,
    channelMismatches: mismatches.slice(0, 20),
    deliveriesAppliedTwice: [...appliedCount].filter(([, count]) => count > 1).map(([key]) => key),
    concurrentDuplicates: log.concurrentDuplicates,
    repeatedPushes: log.items.filter((item) => item.status === 'duplicate').length,
    deliveries,
  };
}

/** Asserts that every acknowledged webhook is stored once, with the allotment it set. */
export function expectStoredOnce(outcome: Outcome): void {
  expect(outcome.missingEvents, 'acknowledged webhooks without an applied event').toEqual([]);
  expect(outcome.keysAppliedTwice, 'idempotency keys applied twice').toEqual([]);
  expect(outcome.wrongAllotments, 'nights not holding their acknowledged allotment').toEqual([]);
}

/** Asserts that the outbox drained and every receiving channel shows parksync's state, with no dead delivery. */
export function expectDelivered(outcome: Outcome): void {
  expect(outcome.drained, 'outbox drained').toBe(true);
  expect(outcome.channelMismatches, 'nights that differ at a channel').toEqual([]);
  for (const [channel, states] of Object.entries(outcome.deliveries)) {
    expect(states.dead ?? 0, `dead deliveries to ${channel}`).toBe(0);
  }
}

/** Asserts that the simulator applied no delivery id twice and never handled two pushes of one delivery at once. */
export function expectNoDeliveryAppliedTwice(outcome: Outcome): void {
  expect(outcome.deliveriesAppliedTwice, 'delivery ids applied twice at the simulator').toEqual([]);
  expect(outcome.concurrentDuplicates, 'pushes overlapping another with the same delivery id').toBe(0);
}
