import { sql, type Transaction } from 'kysely';
import type { Database } from '../db/schema.ts';
import { inTransaction } from '../db/transaction.ts';
import type { AppContext } from '../http/context.ts';
import { alertState, connectionActive, lastAvailabilitySync } from '../observability/metrics.ts';
import { acquireLease } from '../worker/leases.ts';
import { notifyTransitions, type AlertTransition } from './notify.ts';
import {
  judgeAvailabilitySync,
  judgeOverbookBlocks,
  judgePublishFailures,
  judgeRetryQueue,
  judgeVersionConflicts,
  judgeWebhookSuccess,
  type AlertEvaluation,
  type AlertState,
  type AlertThresholds,
} from './rules.ts';
import {
  lastAvailabilityDeliveries,
  overbookBlocks,
  publishFailures,
  retryQueues,
  versionRejections,
  webhookOutcomes,
} from './queries.ts';

/** Name of the lease that makes one process the evaluator. */
export const ALERT_LEASE = 'alerts';
/** Seconds the evaluator holds its lease: two passes, so a live evaluator keeps it and a dead one is replaced within two minutes. */
const ALERT_LEASE_SECONDS = 120;
/** Rows written per insert statement. */
const UPSERT_BATCH = 500;

export interface AlertPass {
  evaluations: AlertEvaluation[];
  transitions: AlertTransition[];
}

/** Runs every rule's query and judgement for `now`. */
export async function evaluateRules(db: AppContext['db'], thresholds: AlertThresholds, now: Date): Promise<AlertEvaluation[]> {
  const [outcomes, rejections, deliveries, blocks, queues, publishes] = await Promise.all([
    webhookOutcomes(db, now, thresholds.webhookSuccessWindowMinutes),
    versionRejections(db, now, thresholds.versionConflictWindowMinutes),
    lastAvailabilityDeliveries(db, now),
    overbookBlocks(db, now, thresholds.overbookWindowMinutes),
    retryQueues(db),
    publishFailures(db, now, thresholds.publishWindowMinutes),
  ]);
  return [
    ...outcomes.map((row) => judgeWebhookSuccess(row.channel, row, thresholds)),
    ...deliveries.map((row) => judgeAvailabilitySync(row.park_id, row.channel, row.last_delivered_at, now, thresholds)),
    ...rejections.map((row) => judgeVersionConflicts(row.channel, row, thresholds)),
    ...blocks.map((row) => judgeOverbookBlocks(row.park_id, row.blocks, thresholds)),
    ...queues.map((row) => judgeRetryQueue(row.park_id, row.channel, { waiting: row.waiting, oldestAt: row.oldest_at }, now, thresholds)),
    ...(publishes.length === 0
      ? [judgePublishFailures(null, null, thresholds)]
      : publishes.map((row) => judgePublishFailures(row.park_id, row.failures, thresholds))),
  ];
}

function scopeKey(rule: string, parkId: string, channel: string): string {
  return `${rule}\u0000${parkId}\u0000${channel}`;
}

/**
 * Writes one pass's evaluations and returns the transitions. A scope seen for
 * the first time is a transition unless it starts resolved. A stored scope
 * that the pass no longer produced (a paused connection, a deleted park) is
 * deleted, and reported as resolved when it was firing or had no data.
 */
async function storeEvaluations(trx: Transaction<Database>, evaluations: readonly AlertEvaluation[], now: Date): Promise<AlertTransition[]> {
  const stored = await trx.selectFrom('alert_states').select(['rule', 'park_id', 'channel', 'state', 'since', 'threshold']).forUpdate().execute();
  const previous = new Map(stored.map((row) => [scopeKey(row.rule, row.park_id, row.channel), row]));
  const transitions: AlertTransition[] = [];

  const rows = evaluations.map((evaluation) => {
    const parkId = evaluation.parkId ?? '';
    const channel = evaluation.channel ?? '';
    const key = scopeKey(evaluation.rule, parkId, channel);
    const before = previous.get(key);
    previous.delete(key);
    const changed = before ? before.state !== evaluation.state : evaluation.state !== 'resolved';
    const since = before && !changed ? before.since : now;
    if (changed) {
      transitions.push({
        rule: evaluation.rule,
        parkId: evaluation.parkId,
        channel: evaluation.channel,
        from: before?.state ?? null,
        to: evaluation.state,
        value: evaluation.value,
        threshold: evaluation.threshold,
        since,
      });
    }
    return {
      rule: evaluation.rule,
      park_id: parkId,
      channel,
      state: evaluation.state,
      since,
      value: evaluation.value,
      threshold: evaluation.threshold,
      detail: JSON.stringify(evaluation.detail),
      evaluated_at: now,
    };
  });

  for (let start = 0; start < rows.length; start += UPSERT_BATCH) {
    await trx
      .insertInto('alert_states')
      .values(rows.slice(start, start + UPSERT_BATCH))
      .onConflict((conflict) =>
        conflict.columns(['rule', 'park_id', 'channel']).doUpdateSet((eb) => ({
          state: eb.ref('excluded.state'),
          since: eb.ref('excluded.since'),
          value: eb.ref('excluded.value'),
          threshold: eb.ref('excluded.threshold'),
          detail: eb.ref('excluded.detail'),
          evaluated_at: eb.ref('excluded.evaluated_at'),
        })),
      )
      .execute();
  }

  const leftovers = [...previous.values()];
  if (leftovers.length > 0) {
    await sql`
      delete from alert_states a
      using unnest(${leftovers.map((row) => row.rule)}::text[], ${leftovers.map((row) => row.park_id)}::text[],
                   ${leftovers.map((row) => row.channel)}::text[]) as leftovers(rule, park_id, channel)
      where a.rule = leftovers.rule and a.park_id = leftovers.park_id and a.channel = leftovers.channel
    `.execute(trx);
  }
  for (const row of leftovers) {
    if (row.state === 'resolved') continue;
    transitions.push({
      rule: row.rule,
      parkId: row.park_id || null,
      channel: row.channel || null,
      from: row.state,
      to: 'resolved',
      value: null,
      threshold: row.threshold,
      since: now,
    });
  }
  return transitions;
}

const LOG_MESSAGES: Record<AlertState, string> = {
  firing: 'alert firing',
  resolved: 'alert resolved',
  no_data: 'alert has no data',
};

/**
 * Runs one evaluation pass: read, judge, store, then log and send the transitions.
 * The states are committed before the notification is sent, so a slow or
 * failing receiver delays the pass by at most the notification timeout and
 * never changes what is stored.
 */
export async function evaluateAlerts(ctx: AppContext): Promise<AlertPass> {
  const now = ctx.clock.now();
  const evaluations = await evaluateRules(ctx.db, ctx.config.alertThresholds, now);
  const transitions = await inTransaction(ctx.db, (trx) => storeEvaluations(trx, evaluations, now));
  const log = ctx.logger.child({ component: 'alerts' });
  for (const transition of transitions) {
    const fields = {
      rule: transition.rule,
      parkId: transition.parkId,
      channel: transition.channel,
      from: transition.from,
      to: transition.to,
      value: transition.value,
      threshold: transition.threshold,
    };
    if (transition.to === 'firing') log.warn(fields, LOG_MESSAGES.firing);
    else log.info(fields, LOG_MESSAGES[transition.to]);
  }
  await notifyTransitions(ctx, transitions);
  return { evaluations, transitions };
}

const STATE_GAUGE_VALUES: Record<AlertState, number> = { firing: 1, resolved: 0, no_data: -1 };

/**
 * Sets this process's alert gauges from the database: the stored state of
 * every rule and scope, which connections parksync delivers to, and the last
 * availability delivery of each watched connection. The last one survives a
 * restart of the process that made the delivery this way. Every worker
 * process runs it, so each exports the same values whichever one evaluates.
 */
export async function refreshAlertMetrics(ctx: AppContext): Promise<void> {
  const [states, connections] = await Promise.all([
    ctx.db.selectFrom('alert_states').select(['rule', 'park_id', 'channel', 'state', 'detail']).execute(),
    ctx.db.selectFrom('connections').select(['park_id', 'channel', 'enabled', 'paused', 'endpoint_url']).execute(),
  ]);
  // A delivery made by this process since the last pass has already moved its gauge forward; keep that.
  const exported = new Map(
    (await lastAvailabilitySync.get()).values.map((sample) => [`${sample.labels.park_id}\u0000${sample.labels.channel}`, sample.value]),
  );
  alertState.reset();
  for (const row of states) {
    alertState.set({ rule: row.rule, park_id: row.park_id, channel: row.channel }, STATE_GAUGE_VALUES[row.state]);
    const lastDeliveredAt = row.rule === 'availability_sync_stale' ? (row.detail as { lastDeliveredAt?: unknown } | null)?.lastDeliveredAt : undefined;
    if (typeof lastDeliveredAt !== 'string') continue;
    const seconds = Date.parse(lastDeliveredAt) / 1000;
    if (seconds > (exported.get(`${row.park_id}\u0000${row.channel}`) ?? 0)) {
      lastAvailabilitySync.set({ park_id: row.park_id, channel: row.channel }, seconds);
    }
  }
  connectionActive.reset();
  for (const row of connections) {
    const active = row.enabled && !row.paused && row.endpoint_url !== null;
    connectionActive.set({ park_id: row.park_id, channel: row.channel }, active ? 1 : 0);
  }
}

/**
 * Runs the worker's once-a-minute alert job. Only the process holding the
 * "alerts" lease evaluates, and every worker process then refreshes its gauges.
 */
export async function runAlertJob(ctx: AppContext): Promise<void> {
  if (await acquireLease(ctx.db, ALERT_LEASE, ctx.config.instanceId, ALERT_LEASE_SECONDS, ctx.clock.now())) {
    await evaluateAlerts(ctx);
  }
  await refreshAlertMetrics(ctx);
}
