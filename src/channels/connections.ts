import { AppError, validationError, type FieldError } from '../errors.ts';
import type { Executor } from '../audit/audit.ts';
import type { ConnectionRow } from '../db/schema.ts';
import { generateSigningSecret } from './secrets.ts';

/** Adapters that can deliver to a channel. The generic one sends parksync's own JSON shapes. */
export const ADAPTERS = ['generic-json'] as const;

export interface RateLimit {
  perSecond: number;
  burst: number;
}

export interface ConnectionSettings {
  endpointUrl?: string | null;
  adapter?: string;
  rateLimitIn?: RateLimit;
  rateLimitOut?: RateLimit;
  maxAttempts?: number;
  enabled?: boolean;
}

/** What the API shows of a connection. Secrets never appear here. */
export interface ConnectionView {
  parkId: string;
  channel: string;
  enabled: boolean;
  paused: boolean;
  pausedReason: string | null;
  pausedBy: string | null;
  pausedAt: string | null;
  endpointUrl: string | null;
  adapter: string;
  rateLimitIn: RateLimit;
  rateLimitOut: RateLimit;
  maxAttempts: number;
  skewWindowSeconds: number;
  skewWindowUntil: string | null;
  /** When the previous signing secret stops verifying, while a rotation window is open. */
  previousSecretValidUntil: string | null;
  createdAt: string;
  updatedAt: string;
}

export function toConnectionView(row: ConnectionRow, now: Date): ConnectionView {
  const previousOpen = row.secret_previous !== null && row.secret_previous_until !== null && row.secret_previous_until > now;
  const skewOpen = row.skew_window_until !== null && row.skew_window_until > now;
  return {
    parkId: row.park_id,
    channel: row.channel,
    enabled: row.enabled,
    paused: row.paused,
    pausedReason: row.paused_reason,
    pausedBy: row.paused_by,
    pausedAt: row.paused_at?.toISOString() ?? null,
    endpointUrl: row.endpoint_url,
    adapter: row.adapter,
    rateLimitIn: { perSecond: row.rate_limit_in_per_second, burst: row.rate_limit_in_burst },
    rateLimitOut: { perSecond: row.rate_limit_out_per_second, burst: row.rate_limit_out_burst },
    maxAttempts: row.max_attempts,
    skewWindowSeconds: skewOpen ? row.skew_window_seconds : 300,
    skewWindowUntil: skewOpen ? (row.skew_window_until?.toISOString() ?? null) : null,
    previousSecretValidUntil: previousOpen ? (row.secret_previous_until?.toISOString() ?? null) : null,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  };
}

function validateSettings(settings: ConnectionSettings): void {
  const errors: FieldError[] = [];
  if (settings.endpointUrl !== undefined && settings.endpointUrl !== null) {
    let url: URL | undefined;
    try {
      url = new URL(settings.endpointUrl);
    } catch {
      url = undefined;
    }
    if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
      errors.push({ field: 'endpointUrl', message: 'must be an absolute http:// or https:// URL' });
    } else if (url.username || url.password) {
      errors.push({ field: 'endpointUrl', message: 'must not contain credentials; parksync signs each delivery instead' });
    }
  }
  if (settings.adapter !== undefined && !(ADAPTERS as readonly string[]).includes(settings.adapter)) {
    errors.push({ field: 'adapter', message: `must be one of: ${ADAPTERS.join(', ')}` });
  }
  for (const name of ['rateLimitIn', 'rateLimitOut'] as const) {
    const limit = settings[name];
    if (limit && limit.burst < limit.perSecond) {
      errors.push({ field: `${name}.burst`, message: `must be at least ${name}.perSecond (${limit.perSecond})` });
    }
  }
  if (errors.length > 0) throw validationError(errors);
}

export async function listConnections(db: Executor, parkId: string): Promise<ConnectionRow[]> {
  return db.selectFrom('connections').selectAll().where('park_id', '=', parkId).orderBy('channel').execute();
}

export async function findConnection(db: Executor, parkId: string, channel: string): Promise<ConnectionRow | undefined> {
  return db.selectFrom('connections').selectAll().where('park_id', '=', parkId).where('channel', '=', channel).executeTakeFirst();
}

export async function getConnection(db: Executor, parkId: string, channel: string): Promise<ConnectionRow> {
  const row = await findConnection(db, parkId, channel);
  if (!row) throw new AppError('connection_not_found', `Park "${parkId}" has no connection to channel "${channel}".`);
  return row;
}

function settingColumns(settings: ConnectionSettings) {
  return {
    ...(settings.endpointUrl !== undefined ? { endpoint_url: settings.endpointUrl } : {}),
    ...(settings.adapter !== undefined ? { adapter: settings.adapter } : {}),
    ...(settings.rateLimitIn
      ? { rate_limit_in_per_second: settings.rateLimitIn.perSecond, rate_limit_in_burst: settings.rateLimitIn.burst }
      : {}),
    ...(settings.rateLimitOut
      ? { rate_limit_out_per_second: settings.rateLimitOut.perSecond, rate_limit_out_burst: settings.rateLimitOut.burst }
      : {}),
    ...(settings.maxAttempts !== undefined ? { max_attempts: settings.maxAttempts } : {}),
    ...(settings.enabled !== undefined ? { enabled: settings.enabled } : {}),
  };
}

export type PutConnectionResult =
  | { created: true; row: ConnectionRow; secret: string }
  | { created: false; row: ConnectionRow; previous: ConnectionRow };

/**
 * Creates a connection with a fresh signing secret, or updates the settings
 * given. The caller must hold the park row lock so two creations cannot race.
 */
export async function putConnection(
  db: Executor,
  parkId: string,
  channel: string,
  settings: ConnectionSettings,
): Promise<PutConnectionResult> {
  validateSettings(settings);
  const previous = await db
    .selectFrom('connections')
    .selectAll()
    .where('park_id', '=', parkId)
    .where('channel', '=', channel)
    .forUpdate()
    .executeTakeFirst();
  if (previous) {
    const columns = settingColumns(settings);
    const row = await db
      .updateTable('connections')
      .set({ ...columns, updated_at: new Date() })
      .where('park_id', '=', parkId)
      .where('channel', '=', channel)
      .returningAll()
      .executeTakeFirstOrThrow();
    return { created: false, row, previous };
  }
  const secret = generateSigningSecret();
  const row = await db
    .insertInto('connections')
    .values({ park_id: parkId, channel, secret_current: secret, ...settingColumns(settings) })
    .returningAll()
    .executeTakeFirstOrThrow();
  return { created: true, row, secret };
}

/** The settings that differ between two versions of a connection, for the audit log. */
export function changedSettings(before: ConnectionRow, after: ConnectionRow): Record<string, { from: unknown; to: unknown }> {
  const keys = [
    'enabled',
    'endpoint_url',
    'adapter',
    'rate_limit_in_per_second',
    'rate_limit_in_burst',
    'rate_limit_out_per_second',
    'rate_limit_out_burst',
    'max_attempts',
  ] as const;
  const changes: Record<string, { from: unknown; to: unknown }> = {};
  for (const key of keys) {
    if (before[key] !== after[key]) changes[key] = { from: before[key], to: after[key] };
  }
  return changes;
}
