/**
 * The six alert rules of the runbook and the pure step of each: numbers read
 * from the database go in, a state comes out. queries.ts reads the numbers,
 * and evaluate.ts stores the states and reports their transitions.
 *
 * A rule reports `no_data` where traffic is expected and there is none (a
 * connection that never received an availability delivery). Where silence is
 * fine (no webhooks means no failed webhooks) it reports `resolved` with a
 * null value.
 */

export const ALERT_STATES = ['firing', 'resolved', 'no_data'] as const;
export type AlertState = (typeof ALERT_STATES)[number];

export const ALERT_RULE_NAMES = [
  'webhook_success_rate',
  'availability_sync_stale',
  'version_conflict_rate',
  'overbook_blocks',
  'retry_queue_backlog',
  'publish_validation_failures',
] as const;
export type AlertRuleName = (typeof ALERT_RULE_NAMES)[number];

/** Unit of a rule's value and threshold. */
export type AlertUnit = 'percent' | 'seconds' | 'count';

export interface AlertRuleInfo {
  unit: AlertUnit;
  /** Scope of one state: a channel, a park, or a connection (park and channel). */
  scope: 'channel' | 'park' | 'connection';
  summary: string;
}

export const ALERT_RULES: Record<AlertRuleName, AlertRuleInfo> = {
  webhook_success_rate: {
    unit: 'percent',
    scope: 'channel',
    summary: 'Share of inbound webhooks applied, shadowed or replayed is below the threshold',
  },
  availability_sync_stale: {
    unit: 'seconds',
    scope: 'connection',
    summary: 'No availability delivery succeeded for longer than the threshold',
  },
  version_conflict_rate: {
    unit: 'percent',
    scope: 'channel',
    summary: 'Share of availability and rates webhooks rejected as stale or as a version conflict is above the threshold',
  },
  overbook_blocks: { unit: 'count', scope: 'park', summary: 'More reservations were blocked as overbooked than the threshold' },
  retry_queue_backlog: {
    unit: 'seconds',
    scope: 'connection',
    summary: 'The oldest undelivered change is older than the threshold, or more changes are waiting than allowed',
  },
  publish_validation_failures: { unit: 'count', scope: 'park', summary: 'Publishing a park page failed validation' },
};

/** Thresholds and look-back windows of the rules; the environment variables that set them are read in config.ts. */
export interface AlertThresholds {
  /** webhook_success_rate fires below this percentage. */
  webhookSuccessMinPercent: number;
  webhookSuccessWindowMinutes: number;
  /** availability_sync_stale fires when the last successful availability delivery is older than this. */
  availabilitySyncStaleMinutes: number;
  /** version_conflict_rate fires above this percentage. */
  versionConflictMaxPercent: number;
  versionConflictWindowMinutes: number;
  /** overbook_blocks fires above this many blocks in the window. */
  overbookMaxBlocks: number;
  overbookWindowMinutes: number;
  /** retry_queue_backlog fires when the oldest undelivered change of a connection is older than this. */
  retryQueueMaxAgeMinutes: number;
  /** retry_queue_backlog also fires when more changes than this wait for one connection. */
  retryQueueMaxLength: number;
  /** publish_validation_failures fires above this many failures in the window. */
  publishMaxFailures: number;
  publishWindowMinutes: number;
}

export const DEFAULT_ALERT_THRESHOLDS: Readonly<AlertThresholds> = Object.freeze({
  webhookSuccessMinPercent: 98,
  webhookSuccessWindowMinutes: 15,
  availabilitySyncStaleMinutes: 15,
  versionConflictMaxPercent: 1,
  versionConflictWindowMinutes: 30,
  overbookMaxBlocks: 5,
  overbookWindowMinutes: 10,
  retryQueueMaxAgeMinutes: 5,
  retryQueueMaxLength: 10_000,
  publishMaxFailures: 0,
  publishWindowMinutes: 15,
});

/** The result of one rule for one scope in one pass. A null parkId or channel means the rule is not split by it. */
export interface AlertEvaluation {
  rule: AlertRuleName;
  parkId: string | null;
  channel: string | null;
  state: AlertState;
  value: number | null;
  threshold: number;
  /** The counts behind the value, so an operator can judge it; ids and numbers only. */
  detail: Record<string, unknown>;
}

function percent(part: number, whole: number): number {
  return (part / whole) * 100;
}

function secondsBetween(earlier: Date, later: Date): number {
  return Math.max(0, (later.getTime() - earlier.getTime()) / 1000);
}

/** Judges one channel's inbound webhooks in the window: every request, and those applied, shadowed or replayed. */
export function judgeWebhookSuccess(
  channel: string,
  counts: { requests: number; successes: number },
  thresholds: AlertThresholds,
): AlertEvaluation {
  const threshold = thresholds.webhookSuccessMinPercent;
  const detail = { requests: counts.requests, successes: counts.successes, windowMinutes: thresholds.webhookSuccessWindowMinutes };
  const base = { rule: 'webhook_success_rate' as const, parkId: null, channel, threshold, detail };
  if (counts.requests === 0) return { ...base, state: 'resolved', value: null };
  const value = percent(counts.successes, counts.requests);
  return { ...base, state: value < threshold ? 'firing' : 'resolved', value };
}

/**
 * Judges the last successful availability delivery to one watched connection, which is null when there never was one.
 * NOTE: a healthy connection fires too when its park made no availability change for the whole
 * threshold, because then nothing was delivered. Requiring waiting availability changes as well
 * would stop that, but the rule would then differ from the runbook's "no successful sync for 15 min".
 */
export function judgeAvailabilitySync(
  parkId: string,
  channel: string,
  lastDeliveredAt: Date | null,
  now: Date,
  thresholds: AlertThresholds,
): AlertEvaluation {
  const threshold = thresholds.availabilitySyncStaleMinutes * 60;
  const base = { rule: 'availability_sync_stale' as const, parkId, channel, threshold };
  if (lastDeliveredAt === null) return { ...base, state: 'no_data', value: null, detail: { lastDeliveredAt: null } };
  const value = secondsBetween(lastDeliveredAt, now);
  return { ...base, state: value > threshold ? 'firing' : 'resolved', value, detail: { lastDeliveredAt: lastDeliveredAt.toISOString() } };
}

/** Judges one channel's availability and rates webhooks in the window, and how many were stale or version conflicts. */
export function judgeVersionConflicts(
  channel: string,
  counts: { requests: number; rejections: number },
  thresholds: AlertThresholds,
): AlertEvaluation {
  const threshold = thresholds.versionConflictMaxPercent;
  const detail = { requests: counts.requests, rejections: counts.rejections, windowMinutes: thresholds.versionConflictWindowMinutes };
  const base = { rule: 'version_conflict_rate' as const, parkId: null, channel, threshold, detail };
  if (counts.requests === 0) return { ...base, state: 'resolved', value: null };
  const value = percent(counts.rejections, counts.requests);
  return { ...base, state: value > threshold ? 'firing' : 'resolved', value };
}

/** Judges the overbook blocks of one park in the window. No blocks is a true count of zero, not missing data. */
export function judgeOverbookBlocks(parkId: string, blocks: number, thresholds: AlertThresholds): AlertEvaluation {
  const threshold = thresholds.overbookMaxBlocks;
  return {
    rule: 'overbook_blocks',
    parkId,
    channel: null,
    state: blocks > threshold ? 'firing' : 'resolved',
    value: blocks,
    threshold,
    detail: { windowMinutes: thresholds.overbookWindowMinutes },
  };
}

/**
 * Judges the changes waiting for one connection: dirty nights plus open
 * deliveries, and when the oldest of them was made. Nothing waiting is
 * resolved with a null age.
 */
export function judgeRetryQueue(
  parkId: string,
  channel: string,
  queue: { waiting: number; oldestAt: Date | null },
  now: Date,
  thresholds: AlertThresholds,
): AlertEvaluation {
  const threshold = thresholds.retryQueueMaxAgeMinutes * 60;
  const maxWaiting = thresholds.retryQueueMaxLength;
  const base = { rule: 'retry_queue_backlog' as const, parkId, channel, threshold };
  if (queue.waiting === 0 || queue.oldestAt === null) {
    return { ...base, state: 'resolved', value: null, detail: { waiting: queue.waiting, maxWaiting } };
  }
  const value = secondsBetween(queue.oldestAt, now);
  const reasons = [...(value > threshold ? ['age'] : []), ...(queue.waiting > maxWaiting ? ['length'] : [])];
  return {
    ...base,
    state: reasons.length > 0 ? 'firing' : 'resolved',
    value,
    detail: { waiting: queue.waiting, maxWaiting, oldestAt: queue.oldestAt.toISOString(), reasons },
  };
}

/**
 * Judges the publish validation failures of one park in the window. `failures` is null
 * when the park has no publish rows at all, and `parkId` is null for the one
 * no_data state reported while no park has any.
 */
export function judgePublishFailures(parkId: string | null, failures: number | null, thresholds: AlertThresholds): AlertEvaluation {
  const threshold = thresholds.publishMaxFailures;
  const base = { rule: 'publish_validation_failures' as const, parkId, channel: null, threshold, detail: { windowMinutes: thresholds.publishWindowMinutes } };
  if (failures === null) return { ...base, state: 'no_data', value: null };
  return { ...base, state: failures > threshold ? 'firing' : 'resolved', value: failures };
}
