import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { LoadClient, Outcome } from '../../../scripts/bench/lib/load.ts';
import type { AvailabilityWebhooks, PreparedRequest } from '../../../scripts/bench/lib/webhooks.ts';

/**
 * A channel that sends availability webhooks at a steady rate and retries
 * each one that was not acknowledged, with the same Idempotency-Key and body,
 * as a well-behaved channel does. It records every attempt, so a test can
 * check what the service returned while it or its database was down.
 */

export interface Attempt {
  /** Milliseconds since the sender was created. */
  at: number;
  durationMs: number;
  /** HTTP status, or 0 when there was no response. */
  status: number;
  /** The problem document's code, or the network error code. */
  code: string | undefined;
}

export interface TrackedWebhook {
  request: PreparedRequest;
  attempts: Attempt[];
  /** The eventId of the 202, once one arrived. */
  eventId: string | undefined;
  nextAttemptAt: number;
  sending: boolean;
}

/** Backoff before the n-th retry: a random wait up to min(RETRY_CAP_MS, RETRY_BASE_MS × 2^(n−1)), so retries after an outage spread out. */
const RETRY_BASE_MS = 250;
const RETRY_CAP_MS = 4_000;
/** Maximum wait the sender takes from Retry-After, so a test does not sit out a 60 s hint. */
const MAX_RETRY_WAIT_MS = 3_000;

function backoffMs(failures: number): number {
  return Math.random() * Math.min(RETRY_CAP_MS, RETRY_BASE_MS * 2 ** (failures - 1));
}

function codeOf(outcome: Outcome): string | undefined {
  if (outcome.status === 0) return outcome.error;
  try {
    return (JSON.parse(outcome.body) as { code?: string }).code;
  } catch {
    return undefined;
  }
}

export class ChannelSender {
  readonly webhooks: TrackedWebhook[] = [];
  private readonly origin = performance.now();
  private readonly inFlight = new Set<Promise<void>>();

  constructor(
    private readonly client: LoadClient,
    private readonly source: AvailabilityWebhooks,
    private readonly options: { ratePerSecond: number; timeoutMs: number },
  ) {}

  now(): number {
    return performance.now() - this.origin;
  }

  private attempt(webhook: TrackedWebhook): void {
    webhook.sending = true;
    const request = webhook.attempts.length === 0 ? webhook.request : this.source.resign(webhook.request);
    const started = this.now();
    const running = this.client.send(request, performance.now(), this.options.timeoutMs).then((outcome) => {
      const attempt: Attempt = { at: started, durationMs: this.now() - started, status: outcome.status, code: codeOf(outcome) };
      webhook.attempts.push(attempt);
      webhook.sending = false;
      if (outcome.status === 202) {
        webhook.eventId = (JSON.parse(outcome.body) as { eventId: string }).eventId;
        return;
      }
      const hinted = Number(outcome.retryAfter);
      const hintMs = Number.isFinite(hinted) && hinted > 0 ? Math.min(hinted * 1000, MAX_RETRY_WAIT_MS) : 0;
      webhook.nextAttemptAt = this.now() + Math.max(hintMs, backoffMs(webhook.attempts.length));
    });
    this.inFlight.add(running);
    void running.finally(() => this.inFlight.delete(running));
  }

  private retryDue(): void {
    const now = this.now();
    for (const webhook of this.webhooks) {
      if (!webhook.eventId && !webhook.sending && webhook.nextAttemptAt <= now) this.attempt(webhook);
    }
  }

  /**
   * Sends new webhooks at the rate, retrying the unacknowledged ones
   * meanwhile, until `durationMs` passes or `until` returns true.
   */
  async run(durationMs: number, until: () => boolean = () => false): Promise<void> {
    const started = this.now();
    const intervalMs = 1000 / this.options.ratePerSecond;
    let sent = 0;
    while (this.now() - started < durationMs && !until()) {
      const due = Math.floor((this.now() - started) / intervalMs) + 1;
      while (sent < due) {
        const webhook: TrackedWebhook = { request: this.source.next(), attempts: [], eventId: undefined, nextAttemptAt: 0, sending: false };
        this.webhooks.push(webhook);
        this.attempt(webhook);
        sent += 1;
      }
      this.retryDue();
      await sleep(10);
    }
  }

  /** Retries until every webhook is acknowledged or `timeoutMs` passes; returns how many are still not acknowledged. */
  async settle(timeoutMs: number): Promise<number> {
    const deadline = this.now() + timeoutMs;
    while (this.now() < deadline) {
      this.retryDue();
      if (this.webhooks.every((webhook) => webhook.eventId)) break;
      await sleep(50);
    }
    await Promise.all(this.inFlight);
    return this.webhooks.filter((webhook) => !webhook.eventId).length;
  }

  attempts(): Attempt[] {
    return this.webhooks.flatMap((webhook) => webhook.attempts);
  }

  /** Counts attempts by "status code", such as "202" or "503 database_unavailable" or "0 ECONNREFUSED". */
  tally(filter: (attempt: Attempt) => boolean = () => true): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const attempt of this.attempts().filter(filter)) {
      const key = attempt.status === 202 ? '202' : `${attempt.status} ${attempt.code ?? ''}`.trim();
      counts[key] = (counts[key] ?? 0) + 1;
    }
    return counts;
  }
}
