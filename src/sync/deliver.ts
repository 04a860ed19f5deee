import { performance } from 'node:perf_hooks';
import { request } from 'undici';
import { recordAudit } from '../audit/audit.ts';
import { adapterFor, type DeliveryOutcome } from '../channels/adapters/index.ts';
import { takeToken } from '../channels/rate-limit.ts';
import type { ConnectionRow } from '../db/schema.ts';
import type { AppContext } from '../http/context.ts';
import { deliveryAttempts, lastAvailabilitySync } from '../observability/metrics.ts';
import { recordSyncEvent, type SyncEventStatus } from '../observability/sync-events.ts';
import { signBody } from '../webhooks/signature.ts';
import { backoffMs } from './backoff.ts';
import { loadConnection, markDead, markDelivered, scheduleRetry, deferWithoutAttempt, type ClaimedDelivery } from './outbox.ts';

/** How long one attempt may take, headers and body together. */
export const ATTEMPT_TIMEOUT_MS = 10_000;

async function attempt(connection: ConnectionRow, delivery: ClaimedDelivery, now: Date): Promise<DeliveryOutcome> {
  const adapter = adapterFor(connection.adapter);
  const outbound = adapter.buildRequest(connection, delivery.kind, delivery.payload);
  const signed = signBody(connection.secret_current, outbound.body, Math.floor(now.getTime() / 1000));
  try {
    const response = await request(outbound.url, {
      method: outbound.method,
      headers: {
        ...outbound.headers,
        ...signed,
        'idempotency-key': delivery.delivery_id,
        'x-version': String(delivery.version),
        'user-agent': 'parksync',
      },
      body: outbound.body,
      // One deadline for the whole attempt: undici's own timeouts only bound the gaps between chunks.
      signal: AbortSignal.timeout(ATTEMPT_TIMEOUT_MS),
    });
    const text = await response.body.text();
    return adapter.readResponse(response.statusCode, response.headers, text, now);
  } catch (error) {
    const code = (error as { code?: string }).code ?? (error as Error).name;
    return { result: 'retry', httpStatus: null, error: `request failed: ${code}`, retryAfterMs: undefined };
  }
}

/** Pauses a connection whose channel returned 410 Gone, so nothing more is sent until an operator resumes it. */
async function pauseGone(ctx: AppContext, delivery: ClaimedDelivery, now: Date): Promise<void> {
  await ctx.db.transaction().execute(async (trx) => {
    await trx
    .updateTable('connections')
    .set({ paused: true, paused_reason: 'channel answered 410 Gone to a delivery', paused_by: 'parksync', paused_at: now, updated_at: now })
    .where('park_id', '=', delivery.park_id)
    .where('channel', '=', delivery.channel)
    .execute();
    await recordAudit(trx, {
      actor: 'parksync',
      action: 'connection.pause',
      parkId: delivery.park_id,
      channel: delivery.channel,
      details: { reason: '410 Gone', deliveryId: delivery.delivery_id },
    });
  });
}

/**
 * Sends one claimed delivery and settles it. The Idempotency-Key is the
 * delivery id on every attempt and the payload never changes, so a channel can
 * drop repeats. Results arriving after the lease was lost are discarded.
 */
export async function deliver(ctx: AppContext, delivery: ClaimedDelivery, owner: string): Promise<void> {
  const now = ctx.clock.now();
  const log = ctx.logger.child({ deliveryId: delivery.delivery_id, parkId: delivery.park_id, channel: delivery.channel, kind: delivery.kind });
  const connection = await loadConnection(ctx.db, delivery.park_id, delivery.channel);
  if (!connection) return;

  const limit = { perSecond: connection.rate_limit_out_per_second, burst: connection.rate_limit_out_burst };
  const token = await takeToken(ctx.db, { parkId: delivery.park_id, channel: delivery.channel, direction: 'out' }, limit, now);
  if (!token.allowed) {
    await deferWithoutAttempt(ctx.db, delivery, owner, new Date(now.getTime() + token.retryAfterSeconds * 1000), now);
    return;
  }

  const started = performance.now();
  const outcome = await attempt(connection, delivery, now);
  const latencyMs = Math.round(performance.now() - started);
  const settledAt = ctx.clock.now();

  let status: SyncEventStatus;
  let settled: boolean;
  if (outcome.result === 'delivered') {
    status = 'delivered';
    settled = await markDelivered(ctx.db, delivery, owner, outcome.httpStatus, settledAt);
    if (settled && delivery.kind === 'availability') {
      lastAvailabilitySync.set({ park_id: delivery.park_id, channel: delivery.channel }, settledAt.getTime() / 1000);
    }
  } else if (outcome.result === 'retry' && delivery.attempts < connection.max_attempts) {
    status = 'failed';
    const waitMs = outcome.retryAfterMs ?? backoffMs(delivery.attempts);
    settled = await scheduleRetry(ctx.db, delivery, owner, outcome, new Date(settledAt.getTime() + waitMs), settledAt);
    log.warn({ attempt: delivery.attempts, httpStatus: outcome.httpStatus, waitMs, error: outcome.error }, 'delivery failed; retrying');
  } else {
    status = 'dead';
    settled = await markDead(ctx.db, delivery, owner, outcome, settledAt);
    log.error({ attempt: delivery.attempts, httpStatus: outcome.httpStatus, error: outcome.error }, 'delivery moved to the dead-letter queue');
    if (settled && outcome.httpStatus === 410) await pauseGone(ctx, delivery, settledAt);
  }
  deliveryAttempts.inc({ channel: delivery.channel, kind: delivery.kind, outcome: status });
  if (!settled) {
    log.warn('lease lost before the delivery settled; another worker owns it now');
    return;
  }
  await recordSyncEvent(ctx.db, {
    occurredAt: settledAt,
    parkId: delivery.park_id,
    channel: delivery.channel,
    direction: 'outbound',
    kind: delivery.kind,
    status,
    idempotencyKey: delivery.delivery_id,
    version: delivery.version,
    httpStatus: outcome.httpStatus,
    error: outcome.result === 'delivered' ? null : outcome.error,
    latencyMs,
    deliveryId: delivery.delivery_id,
    detail: { attempt: delivery.attempts, cells: delivery.cells },
  });
}
