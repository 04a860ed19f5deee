import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { LoadClient } from '../../scripts/bench/lib/load.ts';
import { useScratchDeployment } from './helpers/lifecycle.ts';
import { ChannelSender } from './helpers/sender.ts';
import { collectOutcome, expectDelivered, expectNoDeliveryAppliedTwice, expectStoredOnce, type Outcome } from './helpers/verify.ts';

/**
 * Kills the API process (`parksync serve`) with SIGKILL while a channel sends
 * webhooks, and starts a new one on the same port. The channel retries every
 * request that got no 202, with the same Idempotency-Key. Afterwards every
 * acknowledged webhook must be stored once, every change must reach the other
 * connections, and no delivery may be applied twice.
 */

const RATE_PER_SECOND = 100;
const LOAD_MS = 12_000;
const KILL_AFTER_MS = 4_000;
const DOWN_FOR_MS = 1_000;
const REQUEST_TIMEOUT_MS = 10_000;
/** A request killed while it held its Idempotency-Key keeps the key locked for 60 s, so retries need longer than that. */
const SETTLE_MS = 90_000;
const DRAIN_MS = 60_000;

const scratch = useScratchDeployment('api-kill');

describe('API process killed under load', () => {
  let outcome: Outcome;
  let sender: ChannelSender;
  let restartMs = 0;

  it('keeps taking webhooks after a restart', async () => {
    const client = new LoadClient(scratch.deployment.url, 512);
    sender = new ChannelSender(client, scratch.deployment.webhooks, { ratePerSecond: RATE_PER_SECOND, timeoutMs: REQUEST_TIMEOUT_MS });
    try {
      const load = sender.run(LOAD_MS);
      await sleep(KILL_AFTER_MS);
      const killed = await scratch.deployment.serve.kill();
      expect(killed.signal).toBe('SIGKILL');
      await sleep(DOWN_FOR_MS);
      const restartStarted = sender.now();
      await scratch.deployment.restartServe();
      restartMs = sender.now() - restartStarted;
      await load;
      outcome = await collectOutcome(scratch.deployment, sender, { settleMs: SETTLE_MS, drainMs: DRAIN_MS });
    } finally {
      await client.close();
    }
    const failedWithoutResponse = sender.attempts().filter((attempt) => attempt.status === 0).length;
    console.info(
      `api kill: ${outcome.webhooks} webhooks, attempts ${JSON.stringify(sender.tally())}, new serve process ready ${(restartMs / 1000).toFixed(1)} s after the restart began, ` +
        `deliveries ${JSON.stringify(outcome.deliveries)}, repeated pushes ${outcome.repeatedPushes}`,
    );
    expect(failedWithoutResponse, 'requests cut off by the kill').toBeGreaterThan(0);
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
    // Only the API process died; the worker never lost a lease, so it had no reason to send a delivery again.
    expect(outcome.repeatedPushes, 'repeated pushes of a delivery').toBe(0);
  });
});
