import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/**
 * The process's Prometheus metrics, in one registry served at /metrics.
 * Metrics are created once per process, so several app instances in one
 * process (as in tests) share them.
 */
export const metricsRegistry = new Registry();
collectDefaultMetrics({ register: metricsRegistry, prefix: 'parksync_' });

export const webhookRequests = new Counter({
  name: 'parksync_webhook_requests_total',
  help: 'Inbound webhook requests by channel, kind and outcome status',
  labelNames: ['channel', 'kind', 'status'] as const,
  registers: [metricsRegistry],
});

export const signatureFailures = new Counter({
  name: 'parksync_webhook_signature_failures_total',
  help: 'Inbound webhooks whose signature or timestamp failed, by channel, reason and the keys tried',
  labelNames: ['channel', 'reason', 'keys_tried'] as const,
  registers: [metricsRegistry],
});

export const webhookFallbacks = new Counter({
  name: 'parksync_webhook_fallbacks_total',
  help: 'Availability webhooks that the one-statement apply rolled back and sent through the checks one by one, by channel and reason',
  labelNames: ['channel', 'reason'] as const,
  registers: [metricsRegistry],
});

export const webhookLatency = new Histogram({
  name: 'parksync_webhook_duration_seconds',
  help: 'Time to handle an inbound webhook, by channel and kind',
  labelNames: ['channel', 'kind'] as const,
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
  registers: [metricsRegistry],
});

export const deliveryAttempts = new Counter({
  name: 'parksync_delivery_attempts_total',
  help: 'Outbound delivery attempts by channel, kind and outcome (delivered, failed, dead)',
  labelNames: ['channel', 'kind', 'outcome'] as const,
  registers: [metricsRegistry],
});

export const lastAvailabilitySync = new Gauge({
  name: 'parksync_last_availability_sync_timestamp_seconds',
  help: 'Unix time of the last delivered availability push, per park and channel',
  labelNames: ['park_id', 'channel'] as const,
  registers: [metricsRegistry],
});

export const outboundBacklog = new Gauge({
  name: 'parksync_outbound_backlog',
  help: 'Open deliveries plus dirty nights waiting, per park and channel',
  labelNames: ['park_id', 'channel'] as const,
  registers: [metricsRegistry],
});

export const outboundOldestAge = new Gauge({
  name: 'parksync_outbound_oldest_pending_seconds',
  help: 'Age of the oldest undelivered change, per park and channel',
  labelNames: ['park_id', 'channel'] as const,
  registers: [metricsRegistry],
});

export const overbookBlocks = new Counter({
  name: 'parksync_overbook_blocks_total',
  help: 'Inbound reservation webhooks blocked because a night lacked a unit, per park',
  labelNames: ['park_id'] as const,
  registers: [metricsRegistry],
});

export const webhookVersionRejections = new Counter({
  name: 'parksync_webhook_version_rejections_total',
  help: 'Inbound webhooks rejected with 409 as stale_version or version_conflict, by channel and kind',
  labelNames: ['channel', 'kind'] as const,
  registers: [metricsRegistry],
});

export const publishValidationFailures = new Counter({
  name: 'parksync_publish_validation_failures_total',
  help: 'Park page publishes that failed validation, per park',
  labelNames: ['park_id'] as const,
  registers: [metricsRegistry],
});

export const alertState = new Gauge({
  name: 'parksync_alert_state',
  help: 'State of each alert rule and scope as stored by the evaluator: 1 firing, 0 resolved, -1 no data',
  labelNames: ['rule', 'park_id', 'channel'] as const,
  registers: [metricsRegistry],
});

export const connectionActive = new Gauge({
  name: 'parksync_connection_active',
  help: 'Whether parksync delivers to the connection: 1 when enabled, not paused and with an endpoint, else 0',
  labelNames: ['park_id', 'channel'] as const,
  registers: [metricsRegistry],
});
