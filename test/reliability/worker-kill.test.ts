import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { LoadClient } from '../../scripts/bench/lib/load.ts';
import { useScratchDeployment } from './helpers/lifecycle.ts';
import { ChannelSender } from './helpers/sender.ts';
import { collectOutcome, expectDelivered, expectNoDeliveryAppliedTwice, expectStoredOnce, type Outcome } from './helpers/verify.ts';

/**
 * Kills the worker process (`parksync work`) with SIGKILL while a channel
 * sends webhooks and one push hangs at the simulator, and starts a new one.
 * The delivery the dead worker held is claimed again once its lease ends and
 * sent with the same delivery id, which the simulator applies once. Afterwards every
 * acknowledged webhook must be stored once, every change must reach the other
 * connections, and no delivery may be applied twice.
 */

const RATE_PER_SECOND = 100;
const LOAD_MS = 12_000;
const SLOW_AFTER_MS = 2_000;
const KILL_AFTER_MS = 4_000;
/** One push to this channel hangs across the kill, so the dead worker still has its delivery leased. */
const SLOW_CHANNEL = 'hipcamp';
const SLOW_PUSH_MS = 5_000;
const DOWN_FOR_MS = 1_000;
const REQUEST_TIMEOUT_MS = 10_000;
/** The shortest lease the service accepts, so the dead worker's deliveries are taken over soon. */
const LEASE_SECONDS = 15;
const SETTLE_MS = 30_000;
const DRAIN_MS = 90_000;

const scratch = useScratchDeployment('worker-kill', { deliveryLeaseSeconds: LEASE_SECONDS });

/** Makes the simulator hold the channel's next push for `delayMs` before it handles it. */
async function slowNextPush(channel: string, delayMs: number): Promise<void> {
  const response = await fetch(`${scratch.deployment.simulator.url}/_control/mode/${channel}`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ mode: 'slow', delayMs, count: 1 }),
  });
  if (!response.ok) throw new Error(`simulator mode failed: ${response.status} ${await response.text()}`);
}

describe('worker process killed under load', () => {
  let outcome: Outcome;

  it('keeps delivering after a restart', async () => {
    const client = new LoadClient(scratch.deployment.url, 512);
    const sender = new ChannelSender(client, scratch.deployment.webhooks, { ratePerSecond: RATE_PER_SECOND, timeoutMs: REQUEST_TIMEOUT_MS });
    try {
      const load = sender.run(LOAD_MS);
      await sleep(SLOW_AFTER_MS);
      await slowNextPush(SLOW_CHANNEL, SLOW_PUSH_MS);
      await sleep(KILL_AFTER_MS - SLOW_AFTER_MS);
      const killed = await scratch.deployment.work.kill();
      expect(killed.signal).toBe('SIGKILL');
      await sleep(DOWN_FOR_MS);
      await scratch.deployment.restartWork();
      await load;
      outcome = await collectOutcome(scratch.deployment, sender, { settleMs: SETTLE_MS, drainMs: DRAIN_MS });
    } finally {
      await client.close();
    }
    console.info(
      `worker kill: ${outcome.webhooks} webhooks, attempts ${JSON.stringify(sender.tally())}, ` +
        `deliveries ${JSON.stringify(outcome.deliveries)}, repeated pushes ${outcome.repeatedPushes}`,
    );
    expect(outcome.unacknowledged, 'webhooks never acknowledged').toBe(0);
  }, 240_000);

  it('stores every acknowledged webhook once', () => {
    expectStoredOnce(outcome);
  });

  it('delivers every change to the other connections', () => {
    expectDelivered(outcome);
  });

  it('applies no delivery twice', () => {
    expectNoDeliveryAppliedTwice(outcome);
  });

  it('sends the dead worker\'s delivery again under the same id', () => {
    expect(outcome.repeatedPushes, 'pushes repeated after the lease ended').toBeGreaterThan(0);
  });
});
