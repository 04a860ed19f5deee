import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { inTransaction } from '../db/transaction.ts';
import { AppError, type ErrorCode } from '../errors.ts';
import type { AppContext } from '../http/context.ts';
import { problemDocument } from '../http/problem.ts';
import { SLUG_PATTERN } from '../http/schemas.ts';
import { signatureFailures, webhookFallbacks } from '../observability/metrics.ts';
import { countSyncEvent, recordSyncEvent, type SyncEvent, type SyncEventStatus } from '../observability/sync-events.ts';
import type { FastifyBaseLogger as Logger } from 'fastify';
import { applyChange, prepareChange, type ApplyOutcome, type PreparedChange } from './apply.ts';
import { validateWebhookBody, type WebhookKind } from './bodies.ts';
import { admitWebhook } from './admit.ts';
import { completeKey, fingerprintBody, MAX_KEY_LENGTH, releaseKey, type KeyScope } from './idempotency.ts';
import { applyInOneStatement, fitsOneStatement } from './one-statement.ts';
import { loadWebhookTarget, type WebhookTarget } from './target.ts';
import type { RateLimit } from '../channels/connections.ts';
import { takeToken, type RateLimitDecision } from '../channels/rate-limit.ts';
import { verifyWebhook, type VerifyFailure } from './verify.ts';
import { advanceVersions } from './versions.ts';

/** Seconds a sender should wait before retrying a paused connection. */
export const PAUSED_RETRY_AFTER_SECONDS = 60;

export interface WebhookRequest {
  channel: string;
  kind: WebhookKind;
  raw: Buffer;
  headers: Record<string, string | string[] | undefined>;
  path: string;
  requestId: string;
  log: Logger;
}

export interface WebhookResponse {
  status: number;
  body: unknown;
  headers: Record<string, string>;
}

const PROBLEM_HEADERS = { 'content-type': 'application/problem+json' };
const SLUG = new RegExp(SLUG_PATTERN);

/** Maps a business rejection to the status its event row records. */
const EVENT_STATUS_BY_CODE: Partial<Record<ErrorCode, SyncEventStatus>> = {
  stale_version: 'stale',
  version_conflict: 'conflict',
  overbooked: 'overbook',
};

const SIGNATURE_FAILURE_CODES: Record<Exclude<VerifyFailure, 'secret_misconfigured'>, ErrorCode> = {
  missing_signature: 'invalid_signature',
  malformed_signature: 'invalid_signature',
  signature_mismatch: 'invalid_signature',
  invalid_timestamp: 'invalid_timestamp',
  timestamp_out_of_window: 'timestamp_out_of_window',
};

class ShadowRollback extends Error {
  constructor(readonly outcome: ApplyOutcome) {
    super('shadow mode: roll back the applied change');
  }
}

/** The reservation id of a reservation body, for the event of a blocked claim; it names no guest. */
function reservationIdOf(parsed: unknown): string | null {
  const id = (parsed as { reservationId?: unknown } | null)?.reservationId;
  return typeof id === 'string' ? id.slice(0, 128) : null;
}

/** Returns why an Idempotency-Key cannot be used, or null when it can. */
function idempotencyKeyProblem(key: string | undefined): AppError | null {
  if (key === undefined || key === '') {
    return new AppError('missing_header', 'Send an Idempotency-Key header (at most 255 characters) so retries are safe.');
  }
  if (key.length > MAX_KEY_LENGTH || !/^[\x21-\x7e]+$/.test(key)) {
    return new AppError('invalid_request', 'Idempotency-Key must be 1 to 255 visible ASCII characters.');
  }
  return null;
}

/** Reads the X-Version header: a positive integer, or the error that names what is wrong with it. */
function readVersion(request: WebhookRequest): number | AppError {
  const versionText = singleHeader(request.headers, 'x-version');
  if (versionText === undefined || versionText === '') {
    return new AppError('missing_header', 'Send an X-Version header: a positive integer that grows with each change you send.');
  }
  if (!/^[1-9]\d{0,14}$/.test(versionText)) {
    return new AppError('invalid_request', `X-Version must be a positive integer, not "${versionText.slice(0, 40)}".`);
  }
  return Number(versionText);
}

/** Validates the body against its schema and the park, or returns the client error that rejects it. */
function prepareRequest(request: WebhookRequest, target: WebhookTarget, parsed: unknown, now: Date): PreparedChange | AppError {
  try {
    return prepareChange(validateWebhookBody(request.kind, parsed), target.park, target.unitTypeIds, now);
  } catch (error) {
    if (error instanceof AppError && error.status < 500) return error;
    throw error;
  }
}

/** Returns the version and change when the request can take the one-statement path, or null when it must take the steps one by one. */
function readyForOneStatement(
  request: WebhookRequest,
  target: WebhookTarget,
  parsed: unknown,
  now: Date,
): { version: number; change: Extract<PreparedChange, { kind: 'availability' }> } | null {
  if (request.kind !== 'availability') return null;
  const version = readVersion(request);
  if (version instanceof AppError) return null;
  const change = prepareRequest(request, target, parsed, now);
  if (change instanceof AppError || !fitsOneStatement(change)) return null;
  return { version, change };
}

function singleHeader(headers: WebhookRequest['headers'], name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** Facts collected about the request so far; every event row carries them. */
interface Progress {
  parkId: string | null;
  idempotencyKey: string | null;
  version: number | null;
  rateHeaders: Record<string, string>;
}

interface EventExtra {
  eventId?: string;
  error?: string;
  detail?: Record<string, unknown> | null;
}

/** Builds the channel_sync_events row for this request at its current progress. */
function eventEntry(
  request: WebhookRequest,
  progress: Progress,
  now: Date,
  started: number,
  status: SyncEventStatus,
  httpStatus: number,
  extra: EventExtra,
): SyncEvent {
  const event: SyncEvent = {
    occurredAt: now,
    parkId: progress.parkId,
    channel: request.channel,
    direction: 'inbound',
    kind: request.kind,
    status,
    idempotencyKey: progress.idempotencyKey,
    version: progress.version,
    httpStatus,
    error: extra.error ?? null,
    latencyMs: Math.round(performance.now() - started),
    requestId: request.requestId,
    detail: extra.detail ?? null,
  };
  if (extra.eventId) event.eventId = extra.eventId;
  return event;
}

/** Raised when a cached webhook target may be out of date; the request then runs again on a fresh one. */
class StaleTarget extends Error {
  /** The rate-limit token the request already took and the limit it was taken under; see runWebhook. */
  constructor(readonly token: CarriedToken | null = null) {
    super('the cached webhook target is out of date');
  }
}

/**
 * Handles one inbound webhook through the checks in their contract order:
 * body, connection, signature, clock skew, pause, rate limit, idempotency,
 * validation, version, apply. Every outcome leaves a channel_sync_events row.
 *
 * The first attempt may use this process's cached target. Anything the
 * target decides against the request, or a stamp from the admission
 * statement that differs from the cached one, sends the request through
 * again on a target read from the database.
 */
export async function handleWebhook(ctx: AppContext, request: WebhookRequest): Promise<WebhookResponse> {
  try {
    return await runWebhook(ctx, request, true, null);
  } catch (error) {
    if (!(error instanceof StaleTarget)) throw error;
    return runWebhook(ctx, request, false, error.token);
  }
}

/** A rate-limit token taken in a run that turned out to use a stale target. */
interface CarriedToken {
  decision: RateLimitDecision;
  limit: RateLimit;
}

/**
 * Runs the checks once. `carried` is the token a run on a stale target took:
 * this run spends it instead of taking another, unless the connection's limit
 * has changed since, so a lowered limit applies from the next request.
 */
async function runWebhook(ctx: AppContext, request: WebhookRequest, useCache: boolean, carried: CarriedToken | null): Promise<WebhookResponse> {
  const started = performance.now();
  const now = ctx.clock.now();
  const progress: Progress = { parkId: null, idempotencyKey: null, version: null, rateHeaders: {} };

  const recordEvent = async (status: SyncEventStatus, httpStatus: number, extra: EventExtra = {}) =>
    recordSyncEvent(ctx.db, eventEntry(request, progress, now, started, status, httpStatus, extra));

  const problemResponse = (error: AppError): WebhookResponse => ({
    status: error.status,
    body: problemDocument(error, request.path, request.requestId),
    headers: { ...PROBLEM_HEADERS, ...progress.rateHeaders, ...error.headers },
  });

  /** Rejects before the idempotency key is claimed: nothing is stored for a replay. */
  const reject = async (error: AppError, status: SyncEventStatus = 'rejected'): Promise<WebhookResponse> => {
    await recordEvent(status, error.status, { error: `${error.code}: ${error.message}` });
    return problemResponse(error);
  };

  // 1. The body is JSON (size and media type were checked by the HTTP layer).
  let parsed: unknown;
  try {
    parsed = JSON.parse(request.raw.toString('utf8'));
  } catch {
    return reject(new AppError('invalid_json', 'The body is not valid JSON.'));
  }

  // 2. The connection, from the channel in the path and the parkId in the body.
  const bodyParkId = (parsed as { parkId?: unknown } | null)?.parkId;
  if (typeof bodyParkId !== 'string' || !SLUG.test(bodyParkId)) {
    return reject(new AppError('invalid_request', 'The body must be a JSON object with a parkId string such as "dune-camp".'));
  }
  const cached = useCache ? ctx.webhookTargets.get(bodyParkId, request.channel) : undefined;
  const target = cached ?? (await loadWebhookTarget(ctx.db, bodyParkId, request.channel));
  if (!cached) {
    if (target) ctx.webhookTargets.set(bodyParkId, request.channel, target);
    else ctx.webhookTargets.forget(bodyParkId, request.channel);
  }
  /** Rejects for a reason the target gives; a cached target is read again first, since it may be out of date. */
  const rejectByTarget = (error: AppError, status?: SyncEventStatus): Promise<WebhookResponse> => {
    if (cached) throw new StaleTarget();
    return reject(error, status);
  };
  const connection = target?.connection;
  const mode = connection?.enabled ? await ctx.flags.evaluate('channel_sync_webhooks', { channel: request.channel, parkId: bodyParkId }) : 'off';
  if (!target || !connection || mode === 'off') {
    return rejectByTarget(new AppError('connection_not_found', `No enabled webhook connection for channel "${request.channel}" and park "${bodyParkId}".`));
  }
  progress.parkId = bodyParkId;
  // Built on first use: most requests log nothing, and a child logger costs more than the rest of a step.
  let childLog: Logger | undefined;
  const log = (): Logger => (childLog ??= request.log.child({ channel: request.channel, parkId: bodyParkId, kind: request.kind }));

  // 3 and 4. Signature over the raw bytes, then the timestamp against the skew window.
  const verified = verifyWebhook(connection, request.headers, request.raw, now);
  if (!verified.ok) {
    if (cached) throw new StaleTarget();
    log().warn({ reason: verified.reason, keysTried: verified.keysTried }, 'webhook signature check failed');
    signatureFailures.inc({ channel: request.channel, reason: verified.reason, keys_tried: verified.keysTried.join('+') || 'none' });
    if (verified.reason === 'secret_misconfigured') {
      return reject(new AppError('connection_misconfigured', 'The connection has no usable signing secret; an operator must rotate it.'));
    }
    return reject(new AppError(SIGNATURE_FAILURE_CODES[verified.reason], verified.detail));
  }

  // 5. A paused connection takes nothing.
  if (connection.paused) {
    return rejectByTarget(
      new AppError('connection_paused', 'The connection is paused; retry later.', {
        headers: { 'retry-after': String(PAUSED_RETRY_AFTER_SECONDS) },
      }),
      'paused',
    );
  }

  // 6 and 7. rateLimitIn, then the Idempotency-Key (or webhook-id for Standard Webhooks senders).
  // Only signed requests reach this point, so no other sender can spend the quota.
  const key = singleHeader(request.headers, 'idempotency-key') ?? (verified.scheme === 'standard' ? verified.messageId : undefined);
  const keyProblem = idempotencyKeyProblem(key);
  const limit = { perSecond: connection.rate_limit_in_per_second, burst: connection.rate_limit_in_burst };
  const bucket = { parkId: bodyParkId, channel: request.channel, direction: 'in' } as const;
  const scope: KeyScope = { channel: request.channel, endpoint: request.kind, key: key ?? '', parkId: bodyParkId };
  const fingerprint = fingerprintBody(request.raw);
  const rateHeaders = (decision: RateLimitDecision) => ({
    'ratelimit-limit': String(limit.burst),
    'ratelimit-remaining': String(decision.remaining),
    'ratelimit-reset': String(decision.allowed ? 0 : decision.retryAfterSeconds),
  });
  const rateLimited = (decision: RateLimitDecision) =>
    reject(
      new AppError('rate_limited', `Over the limit of ${limit.perSecond} requests per second (burst ${limit.burst}) for this connection.`, {
        headers: { 'retry-after': String(decision.retryAfterSeconds) },
      }),
      'rate_limited',
    );

  // Steps 6 to 10 in one statement for a well-formed availability webhook, the usual case. A request
  // that fails any check there goes through the steps one by one below, which build its response.
  const oneStatement = keyProblem || mode !== 'on' ? null : readyForOneStatement(request, target, parsed, now);
  // The token this request took, kept when the one-statement path rolls back, so no step takes another.
  const sameLimit = carried !== null && carried.limit.perSecond === limit.perSecond && carried.limit.burst === limit.burst;
  let tokenTaken: RateLimitDecision | null = sameLimit ? carried.decision : null;
  if (oneStatement) {
    const decision = tokenTaken ?? (await ctx.tokenLeases.take(ctx.db, bucket, limit, now));
    progress.rateHeaders = rateHeaders(decision);
    if (!decision.allowed) {
      if (cached) throw new StaleTarget();
      return rateLimited(decision);
    }
    progress.idempotencyKey = scope.key;
    progress.version = oneStatement.version;
    const eventId = randomUUID();
    const event = Object.assign(eventEntry(request, progress, now, started, 'applied', 202, {}), { eventId });
    const outcome = await applyInOneStatement(ctx.db, {
      ...oneStatement,
      parkId: bodyParkId,
      channel: request.channel,
      now,
      scope,
      fingerprint,
      cachedStamp: cached ? target.stamp : null,
      event,
    });
    if (outcome.kind !== 'applied') webhookFallbacks.inc({ channel: request.channel, reason: outcome.kind === 'fallback' ? outcome.reason : outcome.kind });
    if (outcome.kind === 'stale_target') throw new StaleTarget({ decision, limit });
    if (outcome.kind === 'applied') {
      // The stored row's latency stops before the statement; the latency metric counts the statement too.
      event.status = outcome.status;
      event.latencyMs = Math.round(performance.now() - started);
      countSyncEvent(event);
      return { status: 202, body: outcome.body, headers: { ...progress.rateHeaders } };
    }
    progress.idempotencyKey = null;
    progress.version = null;
    tokenTaken = decision;
  }

  if (keyProblem && cached) throw new StaleTarget();
  const { rate: decision, claim, targetStamp } = keyProblem
    ? { rate: tokenTaken ?? (await takeToken(ctx.db, bucket, limit, now)), claim: null, targetStamp: target.stamp }
    : await admitWebhook(ctx.db, bucket, limit, scope, fingerprint, now, tokenTaken);
  if (cached && targetStamp !== target.stamp) {
    if (claim?.state === 'claimed') await releaseKey(ctx.db, scope);
    throw new StaleTarget(decision.allowed ? { decision, limit } : null);
  }
  progress.rateHeaders = rateHeaders(decision);
  if (!decision.allowed) return rateLimited(decision);
  if (keyProblem) return reject(keyProblem);
  if (!claim) throw new Error('the rate limit admitted the webhook but no Idempotency-Key claim came back');
  progress.idempotencyKey = scope.key;
  if (claim.state === 'replay') {
    await recordEvent('replayed', claim.status);
    const isProblem = claim.status >= 400;
    return {
      status: claim.status,
      body: claim.body,
      headers: { ...(isProblem ? PROBLEM_HEADERS : {}), ...progress.rateHeaders, 'idempotent-replayed': 'true' },
    };
  }
  if (claim.state === 'mismatch') {
    return reject(new AppError('idempotency_key_reused', 'This Idempotency-Key was used with a different body; use a new key for a new request.'));
  }
  if (claim.state === 'in_progress') {
    return reject(
      new AppError('idempotency_in_progress', 'A request with this Idempotency-Key is still running; retry after it finishes.', {
        headers: { 'retry-after': String(claim.retryAfterSeconds) },
      }),
    );
  }

  // From here on the key is held by this request: the final response is stored, except after a fault.
  try {
    return await processClaimed({ ctx, request, target, parsed, scope, mode, progress, now, started, problemResponse, log });
  } catch (error) {
    await releaseKey(ctx.db, scope).catch((releaseError: unknown) =>
      log().error({ err: releaseError }, 'could not release the idempotency key; it unlocks when its lock expires'),
    );
    throw error;
  }
}

/** Everything the steps after the Idempotency-Key claim need. */
interface ClaimedRequest {
  ctx: AppContext;
  request: WebhookRequest;
  target: WebhookTarget;
  parsed: unknown;
  scope: KeyScope;
  mode: string;
  progress: Progress;
  now: Date;
  started: number;
  problemResponse: (error: AppError) => WebhookResponse;
  log: () => Logger;
}

/** Steps 8 to 10, with the Idempotency-Key held. Business rejections are stored as the key's response. */
async function processClaimed(claimed: ClaimedRequest): Promise<WebhookResponse> {
  const { ctx, request, target, parsed, scope, mode, progress, now, started, problemResponse, log } = claimed;
  const entry = (status: SyncEventStatus, httpStatus: number, extra: EventExtra) =>
    eventEntry(request, progress, now, started, status, httpStatus, extra);

  const rejectStored = async (error: AppError): Promise<WebhookResponse> => {
    const response = problemResponse(error);
    const event = entry(EVENT_STATUS_BY_CODE[error.code] ?? 'rejected', error.status, {
      error: `${error.code}: ${error.message}`,
      detail: error.code === 'overbooked' ? { reservationId: reservationIdOf(parsed), failedNights: error.extensions.failedNights } : null,
    });
    await completeKey(ctx.db, scope, response.status, response.body, event);
    return response;
  };

  // 9 (header part). X-Version is read before validation so every stored response names it.
  const version = readVersion(request);
  if (version instanceof AppError) return rejectStored(version);
  progress.version = version;

  // 8. Validation of the body against its schema and the park.
  const park = target.park;
  const change = prepareRequest(request, target, parsed, now);
  if (change instanceof AppError) return rejectStored(change);

  // 9 (entity part) and 10. Versions, the change, its dirty marks, its event and the key's response commit together.
  const eventId = randomUUID();
  try {
    const outcome = await inTransaction(ctx.db, async (trx) => {
      await advanceVersions(trx, { channel: request.channel, parkId: park.park_id, kind: request.kind }, change.entityKeys, version, now);
      const applied = await applyChange(trx, change, park, request.channel, now);
      if (mode === 'shadow') throw new ShadowRollback(applied);
      const body = { eventId, status: 'applied', ...applied.response };
      await completeKey(trx, scope, 202, body, entry(applied.status, 202, { eventId, detail: applied.detail }));
      return body;
    });
    return { status: 202, body: outcome, headers: { ...progress.rateHeaders } };
  } catch (error) {
    if (error instanceof ShadowRollback) {
      const body = { eventId, status: 'shadowed', ...error.outcome.response };
      const event = entry('shadowed', 202, { eventId, detail: { ...error.outcome.detail, wouldBe: error.outcome.status } });
      await completeKey(ctx.db, scope, 202, body, event);
      log().info({ eventId }, 'shadow mode: change checked and logged, nothing written');
      return { status: 202, body, headers: { ...progress.rateHeaders } };
    }
    if (error instanceof AppError && error.status < 500) return rejectStored(error);
    throw error;
  }
}
