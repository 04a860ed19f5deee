import { randomUUID } from 'node:crypto';
import { request } from 'undici';
import type { AppContext } from '../http/context.ts';
import { signBody } from '../webhooks/signature.ts';
import type { AlertState } from './rules.ts';

/** How long one POST to the alert receiver may take, connection and response together. */
export const ALERT_NOTIFY_TIMEOUT_MS = 5_000;

/** One change of state of one rule for one scope. */
export interface AlertTransition {
  rule: string;
  parkId: string | null;
  channel: string | null;
  /** Null when the scope had no stored state before this pass. */
  from: AlertState | null;
  to: AlertState;
  value: number | null;
  threshold: number;
  since: Date;
}

/** Builds the JSON body of one notification. A receiver gets every transition of a pass in one POST. */
export function notificationBody(transitions: readonly AlertTransition[], sentAt: Date): string {
  return JSON.stringify({
    type: 'parksync.alert.transitions',
    sentAt: sentAt.toISOString(),
    transitions: transitions.map((transition) => ({ ...transition, since: transition.since.toISOString() })),
  });
}

/**
 * POSTs a pass's transitions to PARKSYNC_ALERT_WEBHOOK_URL, signed the way
 * parksync signs its deliveries (X-Timestamp and X-Signature over the raw
 * body), with a fresh Idempotency-Key. It never throws and never retries: a
 * failure is logged with the number of transitions lost, and the stored
 * states and GET /alerts stay correct.
 */
export async function notifyTransitions(ctx: AppContext, transitions: readonly AlertTransition[]): Promise<void> {
  const url = ctx.config.alertWebhookUrl;
  const secret = ctx.config.alertWebhookSecret;
  if (!url || !secret || transitions.length === 0) return;
  const log = ctx.logger.child({ component: 'alerts' });
  const notificationId = randomUUID();
  try {
    const now = ctx.clock.now();
    const body = notificationBody(transitions, now);
    const response = await request(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'user-agent': 'parksync',
        'idempotency-key': notificationId,
        ...signBody(secret, body, Math.floor(now.getTime() / 1000)),
      },
      body,
      signal: AbortSignal.timeout(ALERT_NOTIFY_TIMEOUT_MS),
    });
    await response.body.dump();
    if (response.statusCode < 200 || response.statusCode >= 300) {
      log.warn({ notificationId, httpStatus: response.statusCode, transitions: transitions.length }, 'alert receiver rejected the notification; it is not retried');
    }
  } catch (error) {
    const code = (error as { code?: string }).code ?? (error as Error).name;
    log.warn({ notificationId, error: code, transitions: transitions.length }, 'alert notification failed; it is not retried');
  }
}
