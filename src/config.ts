import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { DEFAULT_ALERT_THRESHOLDS, type AlertThresholds } from './alerts/rules.ts';
import { decodeSigningSecret, SecretFormatError } from './channels/secrets.ts';

export type Role = 'serve' | 'work' | 'all';

export interface Config {
  host: string;
  port: number;
  /** PostgreSQL URL; when absent parksync uses the embedded PGlite database in dataDir. */
  databaseUrl: string | undefined;
  dataDir: string;
  /** Most PostgreSQL connections one process opens, shared by its two pools (src/db/database.ts). */
  databasePoolSize: number;
  /** When set, an admin token with exactly this value is created or refreshed at start. */
  adminToken: string | undefined;
  logLevel: string;
  /** Identifies this process in worker leases and logs. */
  instanceId: string;
  /** Seconds to wait for in-flight requests and jobs during shutdown before exiting anyway. */
  shutdownGraceSeconds: number;
  /** Seconds a worker keeps the lease on a delivery. A worker that dies mid-delivery loses it to another after this. */
  deliveryLeaseSeconds: number;
  /** Deliveries one worker process sends at once. */
  deliveryConcurrency: number;
  /** Port where a `work` process serves /metrics, which has no API port of its own; undefined serves none. */
  metricsPort: number | undefined;
  /** Thresholds and windows of the six alert rules. */
  alertThresholds: AlertThresholds;
  /** URL that alert state transitions are POSTed to; none are sent when unset. */
  alertWebhookUrl: string | undefined;
  /** Secret ("whsec_<base64>") that signs those POSTs; required with alertWebhookUrl. */
  alertWebhookSecret: string | undefined;
}

function readWholeNumber(name: string, text: string | undefined, fallback: number, minimum: number, maximum = Number.MAX_SAFE_INTEGER): number {
  if (text === undefined || text === '') return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < minimum || value > maximum) {
    const range = maximum === Number.MAX_SAFE_INTEGER ? `at least ${minimum}` : `from ${minimum} to ${maximum}`;
    throw new Error(`${name} must be a whole number, ${range}; got "${text}"`);
  }
  return value;
}

function readPercent(name: string, text: string | undefined, fallback: number): number {
  if (text === undefined || text === '') return fallback;
  const value = Number(text);
  if (!/^\d+(\.\d+)?$/.test(text) || value > 100) {
    throw new Error(`${name} must be a percentage from 0 to 100, such as 98 or 99.5; got "${text}"`);
  }
  return value;
}

function readAlertThresholds(env: NodeJS.ProcessEnv): AlertThresholds {
  const fallback = DEFAULT_ALERT_THRESHOLDS;
  const minutes = (name: string, value: number) => readWholeNumber(name, env[name], value, 1);
  return {
    webhookSuccessMinPercent: readPercent('PARKSYNC_ALERT_WEBHOOK_SUCCESS_MIN_PERCENT', env.PARKSYNC_ALERT_WEBHOOK_SUCCESS_MIN_PERCENT, fallback.webhookSuccessMinPercent),
    webhookSuccessWindowMinutes: minutes('PARKSYNC_ALERT_WEBHOOK_SUCCESS_WINDOW_MINUTES', fallback.webhookSuccessWindowMinutes),
    availabilitySyncStaleMinutes: minutes('PARKSYNC_ALERT_SYNC_STALE_MINUTES', fallback.availabilitySyncStaleMinutes),
    versionConflictMaxPercent: readPercent('PARKSYNC_ALERT_VERSION_CONFLICT_MAX_PERCENT', env.PARKSYNC_ALERT_VERSION_CONFLICT_MAX_PERCENT, fallback.versionConflictMaxPercent),
    versionConflictWindowMinutes: minutes('PARKSYNC_ALERT_VERSION_CONFLICT_WINDOW_MINUTES', fallback.versionConflictWindowMinutes),
    overbookMaxBlocks: readWholeNumber('PARKSYNC_ALERT_OVERBOOK_MAX_BLOCKS', env.PARKSYNC_ALERT_OVERBOOK_MAX_BLOCKS, fallback.overbookMaxBlocks, 0),
    overbookWindowMinutes: minutes('PARKSYNC_ALERT_OVERBOOK_WINDOW_MINUTES', fallback.overbookWindowMinutes),
    retryQueueMaxAgeMinutes: minutes('PARKSYNC_ALERT_RETRY_QUEUE_MAX_AGE_MINUTES', fallback.retryQueueMaxAgeMinutes),
    retryQueueMaxLength: readWholeNumber('PARKSYNC_ALERT_RETRY_QUEUE_MAX_LENGTH', env.PARKSYNC_ALERT_RETRY_QUEUE_MAX_LENGTH, fallback.retryQueueMaxLength, 0),
    publishMaxFailures: readWholeNumber('PARKSYNC_ALERT_PUBLISH_MAX_FAILURES', env.PARKSYNC_ALERT_PUBLISH_MAX_FAILURES, fallback.publishMaxFailures, 0),
    publishWindowMinutes: minutes('PARKSYNC_ALERT_PUBLISH_WINDOW_MINUTES', fallback.publishWindowMinutes),
  };
}

/** Reads the alert receiver's URL and signing secret; the secret never appears in an error. */
function readAlertWebhook(env: NodeJS.ProcessEnv): { url: string | undefined; secret: string | undefined } {
  const url = env.PARKSYNC_ALERT_WEBHOOK_URL?.trim() || undefined;
  const secret = env.PARKSYNC_ALERT_WEBHOOK_SECRET?.trim() || undefined;
  if (url === undefined) return { url, secret };
  let protocol: string;
  try {
    protocol = new URL(url).protocol;
  } catch {
    throw new Error(`PARKSYNC_ALERT_WEBHOOK_URL must be an absolute http or https URL; got "${url}"`);
  }
  if (protocol !== 'http:' && protocol !== 'https:') {
    throw new Error(`PARKSYNC_ALERT_WEBHOOK_URL must use http or https; got "${protocol}"`);
  }
  if (secret === undefined) {
    throw new Error('PARKSYNC_ALERT_WEBHOOK_SECRET is required with PARKSYNC_ALERT_WEBHOOK_URL; generate one with: echo "whsec_$(openssl rand -base64 32)"');
  }
  try {
    decodeSigningSecret(secret);
  } catch (error) {
    if (!(error instanceof SecretFormatError)) throw error;
    throw new Error(`PARKSYNC_ALERT_WEBHOOK_SECRET is invalid: ${error.message}`);
  }
  return { url, secret };
}

function readPort(text: string | undefined, name = 'PORT'): number {
  if (text === undefined || text === '') return 8080;
  const port = Number(text);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`${name} must be an integer from 0 to 65535, got "${text}"`);
  }
  return port;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const adminToken = env.PARKSYNC_ADMIN_TOKEN?.trim();
  if (adminToken !== undefined && adminToken !== '' && adminToken.length < 24) {
    throw new Error('PARKSYNC_ADMIN_TOKEN must be at least 24 characters long; generate one with: openssl rand -hex 24');
  }
  const alertWebhook = readAlertWebhook(env);
  return {
    host: env.HOST ?? '127.0.0.1',
    port: readPort(env.PORT),
    databaseUrl: env.DATABASE_URL?.trim() || undefined,
    dataDir: env.PARKSYNC_DATA_DIR?.trim() || './data',
    adminToken: adminToken || undefined,
    logLevel: env.LOG_LEVEL ?? 'info',
    instanceId: `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`,
    databasePoolSize: readWholeNumber('PARKSYNC_DB_POOL_SIZE', env.PARKSYNC_DB_POOL_SIZE, 10, 2, 1000),
    shutdownGraceSeconds: readWholeNumber('PARKSYNC_SHUTDOWN_GRACE_SECONDS', env.PARKSYNC_SHUTDOWN_GRACE_SECONDS, 20, 1),
    // The lease must outlast one attempt (10 s timeout), or a slow but live delivery could be sent twice at once.
    deliveryLeaseSeconds: readWholeNumber('PARKSYNC_DELIVERY_LEASE_SECONDS', env.PARKSYNC_DELIVERY_LEASE_SECONDS, 60, 15),
    deliveryConcurrency: readWholeNumber('PARKSYNC_DELIVERY_CONCURRENCY', env.PARKSYNC_DELIVERY_CONCURRENCY, 8, 1, 256),
    metricsPort: env.PARKSYNC_METRICS_PORT ? readPort(env.PARKSYNC_METRICS_PORT, 'PARKSYNC_METRICS_PORT') : undefined,
    alertThresholds: readAlertThresholds(env),
    alertWebhookUrl: alertWebhook.url,
    alertWebhookSecret: alertWebhook.secret,
  };
}
