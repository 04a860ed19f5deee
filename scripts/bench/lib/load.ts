import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { Pool } from 'undici';
import { summarize, type LatencySummary } from './stats.ts';

/**
 * A small HTTP load generator on undici, for loopback targets only. It has
 * two modes. Closed loop: `concurrency` workers each send the next request as
 * soon as the previous one gets its response, which finds the saturation
 * throughput. Open loop: requests start on a fixed schedule whatever the
 * responses, and
 * latency is measured from the scheduled start, so a stalled server shows up
 * as latency instead of as fewer requests (no coordinated omission).
 */

export interface OutgoingRequest {
  path: string;
  headers: Record<string, string>;
  body: Buffer;
}

export interface Outcome {
  /** HTTP status, or 0 when the request failed without a response. */
  status: number;
  body: string;
  /** The Retry-After header, when the response had one. */
  retryAfter?: string;
  /** undici error code for a failed request. */
  error?: string;
  /** performance.now() when the request was due (open loop) or sent (closed loop). */
  startedAt: number;
  finishedAt: number;
}

export interface PhaseResult {
  name: string;
  mode: 'closed' | 'open';
  concurrency?: number;
  targetRate?: number;
  durationMs: number;
  sent: number;
  /** Responses with the expected status. */
  ok: number;
  /** Count per HTTP status; "error:<code>" for requests without a response. */
  statuses: Record<string, number>;
  /** Expected responses per second over the phase. */
  throughput: number;
  /** Latency of the expected responses, in milliseconds. */
  latency: LatencySummary;
  /** Open loop only: false when the generator could not start requests on schedule because too many were in flight. */
  sustained: boolean;
}

export class LoadClient {
  private readonly pool: Pool;

  constructor(
    readonly origin: string,
    connections = 128,
  ) {
    const host = new URL(origin).hostname;
    if (host !== '127.0.0.1' && host !== 'localhost') throw new Error(`load goes to 127.0.0.1 only, not to "${host}"`);
    this.pool = new Pool(origin, { connections, pipelining: 1, keepAliveTimeout: 30_000 });
  }

  async send(request: OutgoingRequest, startedAt = performance.now(), timeoutMs = 30_000): Promise<Outcome> {
    try {
      const response = await this.pool.request({
        path: request.path,
        method: 'POST',
        headers: request.headers,
        body: request.body,
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
      });
      const body = await response.body.text();
      const retryAfter = response.headers['retry-after'];
      return {
        status: response.statusCode,
        body,
        ...(typeof retryAfter === 'string' ? { retryAfter } : {}),
        startedAt,
        finishedAt: performance.now(),
      };
    } catch (error) {
      const code = (error as { code?: string }).code ?? (error as Error).name;
      return { status: 0, body: '', error: code, startedAt, finishedAt: performance.now() };
    }
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}

export interface PhaseOptions<R extends OutgoingRequest> {
  name: string;
  client: LoadClient;
  durationMs: number;
  next: () => R;
  expectStatus: number;
  onOutcome?: (request: R, outcome: Outcome) => void;
}

function tally(statuses: Record<string, number>, outcome: Outcome): void {
  const key = outcome.status === 0 ? `error:${outcome.error ?? 'unknown'}` : String(outcome.status);
  statuses[key] = (statuses[key] ?? 0) + 1;
}

export async function runClosedLoop<R extends OutgoingRequest>(options: PhaseOptions<R> & { concurrency: number }): Promise<PhaseResult> {
  const latencies: number[] = [];
  const statuses: Record<string, number> = {};
  let sent = 0;
  const started = performance.now();
  const end = started + options.durationMs;
  const worker = async () => {
    while (performance.now() < end) {
      const request = options.next();
      sent += 1;
      const outcome = await options.client.send(request);
      tally(statuses, outcome);
      if (outcome.status === options.expectStatus) latencies.push(outcome.finishedAt - outcome.startedAt);
      options.onOutcome?.(request, outcome);
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, worker));
  const durationMs = performance.now() - started;
  return {
    name: options.name,
    mode: 'closed',
    concurrency: options.concurrency,
    durationMs,
    sent,
    ok: latencies.length,
    statuses,
    throughput: (latencies.length / durationMs) * 1000,
    latency: summarize(latencies),
    sustained: true,
  };
}

export async function runOpenLoop<R extends OutgoingRequest>(options: PhaseOptions<R> & { rate: number; maxInFlight?: number }): Promise<PhaseResult> {
  const maxInFlight = options.maxInFlight ?? 512;
  const planned = Math.max(1, Math.round((options.rate * options.durationMs) / 1000));
  const intervalMs = 1000 / options.rate;
  const latencies: number[] = [];
  const statuses: Record<string, number> = {};
  const inFlight = new Set<Promise<void>>();
  let issued = 0;
  let sustained = true;
  const started = performance.now();

  while (issued < planned) {
    const due = Math.min(planned, Math.floor((performance.now() - started) / intervalMs) + 1);
    while (issued < due && inFlight.size < maxInFlight) {
      const scheduledAt = started + issued * intervalMs;
      const request = options.next();
      issued += 1;
      const running = options.client.send(request, scheduledAt).then((outcome) => {
        tally(statuses, outcome);
        if (outcome.status === options.expectStatus) latencies.push(outcome.finishedAt - outcome.startedAt);
        options.onOutcome?.(request, outcome);
      });
      inFlight.add(running);
      void running.finally(() => inFlight.delete(running));
    }
    // Falling a full second behind the schedule means the target cannot keep this rate.
    if (due - issued > options.rate) sustained = false;
    await sleep(1);
  }
  await Promise.all(inFlight);
  const durationMs = performance.now() - started;
  return {
    name: options.name,
    mode: 'open',
    targetRate: options.rate,
    durationMs,
    sent: issued,
    ok: latencies.length,
    statuses,
    throughput: (latencies.length / durationMs) * 1000,
    latency: summarize(latencies),
    sustained: sustained && durationMs < options.durationMs * 1.5,
  };
}

/** Formats the status counts for a table cell, such as "202 ×9,812; 503 ×3". */
export function describeStatuses(statuses: Record<string, number>): string {
  return Object.entries(statuses)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([status, count]) => `${status} ×${count.toLocaleString('en-US')}`)
    .join('; ');
}
