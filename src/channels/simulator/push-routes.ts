import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { Type, type Static } from 'typebox';
import { Slug } from '../../http/schemas.ts';
import type { ChannelMode } from './modes.ts';
import { problemBody, sendResponse } from './problem.ts';
import { PUSH_KINDS, validatePushBody, type AvailabilityPush, type PushKind, type RatesPush } from './schemas.ts';
import type { ReceivedPushInput, ReceivedStatus, SimulatorState } from './state.ts';
import { verifyPushSignature } from './verify.ts';

/**
 * The channel side of parksync's outbound deliveries:
 * `POST /channels/:channel/availability` and `POST /channels/:channel/rates`.
 *
 * A push goes through these steps, in order:
 * 1. The channel's response mode (fail, slow, rate_limit, down) applies first,
 *    as it would for a channel that is unwell before it reads anything.
 * 2. Invalid JSON: 400. No `parkId`: 400. No secret registered for
 *    (channel, parkId): 404.
 * 3. Missing or wrong signature: 401.
 * 4. Missing `Idempotency-Key`: 400. A repeated key returns the first stored
 *    response with `Idempotent-Replayed: true` and applies nothing.
 * 5. From here each response is stored under the key: missing or invalid
 *    `X-Version` 400, a body off the contract 422, a version lower than the
 *    highest seen for (channel, park, kind) 409, otherwise the push is applied
 *    and the response is 200 `{ received: true }`.
 */

export interface PushRouteOptions {
  state: SimulatorState;
  /** Aborted when the simulator closes, so slow mode does not hold the server open. */
  shutdown: AbortSignal;
}

const ChannelParamsSchema = Type.Object({ channel: Slug('Channel') });
type ChannelParams = Static<typeof ChannelParamsSchema>;

const MAX_IDEMPOTENCY_KEY_LENGTH = 255;
const VERSION_PATTERN = /^[1-9]\d{0,15}$/;

type RecordPush = (status: ReceivedStatus, httpStatus: number | null, extra?: Partial<ReceivedPushInput>) => void;

interface PushOutcome {
  httpStatus: number;
  body: unknown;
  status: ReceivedStatus;
  reason?: string;
}

function headerValue(request: FastifyRequest, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** Parses X-Version into a number. Returns null when the header is absent and 'invalid' when it is not a positive integer. */
function parseVersion(text: string | undefined): number | null | 'invalid' {
  if (text === undefined || text === '') return null;
  if (!VERSION_PATTERN.test(text)) return 'invalid';
  const version = Number(text);
  return Number.isSafeInteger(version) ? version : 'invalid';
}

function parseJson(raw: Buffer): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse(raw.toString('utf8')) };
  } catch {
    return { ok: false };
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function fingerprint(raw: Buffer): string {
  return createHash('sha256').update(raw).digest('hex');
}

/** Closes the connection without an HTTP response, as a channel that is down would. */
function dropConnection(request: FastifyRequest, reply: FastifyReply): void {
  reply.hijack();
  request.raw.socket.destroy();
}

/** Decides the response to a push that passed the signature and Idempotency-Key checks, and applies the push when it is valid. */
function decideAndApply(
  state: SimulatorState,
  channel: string,
  parkId: string,
  kind: PushKind,
  body: unknown,
  version: number | null | 'invalid',
): PushOutcome {
  if (version === null || version === 'invalid') {
    const detail = version === null ? 'X-Version header is missing. Send a positive integer.' : 'X-Version must be a positive integer.';
    return { httpStatus: 400, body: problemBody(400, 'invalid_version', detail), status: 'invalid', reason: 'invalid_version' };
  }

  const checked = validatePushBody(kind, body);
  if (!checked.ok) {
    const first = checked.errors[0];
    const detail = checked.errors.length === 1 && first ? `${first.field} ${first.message}` : `${checked.errors.length} fields are invalid`;
    return {
      httpStatus: 422,
      body: problemBody(422, 'validation_failed', detail, { errors: checked.errors }),
      status: 'invalid',
      reason: 'validation_failed',
    };
  }

  const highest = state.highestVersion(channel, parkId, kind);
  if (highest !== undefined && version < highest) {
    const detail = `X-Version ${version} is lower than ${highest}, the highest already received for ${kind} of park "${parkId}".`;
    return {
      httpStatus: 409,
      body: problemBody(409, 'stale_version', detail, { highestVersion: highest }),
      status: 'stale',
      reason: 'stale_version',
    };
  }

  if (kind === 'availability') {
    const push = checked.value as AvailabilityPush;
    state.applyAvailability(channel, parkId, push.updates, version);
  } else {
    const push = checked.value as RatesPush;
    state.applyRates(channel, parkId, push.currency, push.updates, version);
  }
  return { httpStatus: 200, body: { received: true }, status: 'applied' };
}

/**
 * Handles a push and tracks it as in flight by Idempotency-Key from arrival
 * until it is finished, slow-mode delay included. A second push with the same
 * key meanwhile counts as a concurrent duplicate.
 */
async function handlePush(
  options: PushRouteOptions,
  kind: PushKind,
  request: FastifyRequest<{ Params: ChannelParams }>,
  reply: FastifyReply,
): Promise<FastifyReply | undefined> {
  const { state } = options;
  const { channel } = request.params;
  const idempotencyKey = headerValue(request, 'idempotency-key');
  if (idempotencyKey === undefined || idempotencyKey === '') return answerPush(options, kind, request, reply, false);

  const concurrentDuplicate = state.beginPush(channel, kind, idempotencyKey);
  try {
    return await answerPush(options, kind, request, reply, concurrentDuplicate);
  } finally {
    state.endPush(channel, kind, idempotencyKey);
  }
}

async function answerPush(
  options: PushRouteOptions,
  kind: PushKind,
  request: FastifyRequest<{ Params: ChannelParams }>,
  reply: FastifyReply,
  concurrentDuplicate: boolean,
): Promise<FastifyReply | undefined> {
  const { state } = options;
  const { channel } = request.params;
  const raw = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
  const parsed = parseJson(raw);
  const body = parsed.ok ? parsed.value : undefined;
  const parkId = isRecord(body) && typeof body.parkId === 'string' ? body.parkId : null;
  const idempotencyKey = headerValue(request, 'idempotency-key') ?? null;
  const version = parseVersion(headerValue(request, 'x-version'));

  let delayedMs: number | undefined;
  const record: RecordPush = (status, httpStatus, extra = {}) => {
    const entry = state.recordReceived({
      channel,
      kind,
      parkId,
      idempotencyKey,
      version: typeof version === 'number' ? version : null,
      status,
      httpStatus,
      ...(isRecord(body) && Array.isArray(body.updates) ? { updates: body.updates.length } : {}),
      ...(delayedMs === undefined ? {} : { delayedMs }),
      ...(concurrentDuplicate ? { concurrentDuplicate } : {}),
      ...extra,
    });
    request.log.info(
      { channel, parkId, kind, idempotencyKey: entry.idempotencyKey, version: entry.version, status, httpStatus, reason: entry.reason },
      'push received',
    );
  };

  const mode = state.takeMode(channel);
  if (mode) {
    const handled = await applyMode(options, mode, request, reply, record);
    if (handled) return handled === 'dropped' ? undefined : reply;
    delayedMs = mode.delayMs;
  }

  if (!parsed.ok) {
    record('invalid', 400, { reason: 'invalid_json' });
    return sendResponse(reply, 400, problemBody(400, 'invalid_json', 'The body is not valid JSON.'));
  }
  if (parkId === null) {
    record('invalid', 400, { reason: 'missing_park_id' });
    return sendResponse(reply, 400, problemBody(400, 'invalid_request', 'The body must be a JSON object with a parkId string.'));
  }

  const secret = state.secretOf(channel, parkId);
  if (secret === undefined) {
    record('unknown_connection', 404, { reason: 'unknown_connection' });
    const detail = `No connection is registered for channel "${channel}" and park "${parkId}". Register its secret with PUT /_control/connections/${channel}/${parkId}.`;
    return sendResponse(reply, 404, problemBody(404, 'unknown_connection', detail));
  }

  const signature = verifyPushSignature(secret, request.headers, raw);
  if (!signature.ok) {
    record('unauthorized', 401, { reason: signature.reason });
    const detail = `The signature check failed (${signature.reason}). Sign "<X-Timestamp>.<raw body>" with the connection's secret.`;
    return sendResponse(reply, 401, problemBody(401, 'invalid_signature', detail));
  }

  if (idempotencyKey === null || idempotencyKey === '' || idempotencyKey.length > MAX_IDEMPOTENCY_KEY_LENGTH) {
    record('invalid', 400, { reason: 'invalid_idempotency_key' });
    const detail = `Idempotency-Key is required and at most ${MAX_IDEMPOTENCY_KEY_LENGTH} characters long.`;
    return sendResponse(reply, 400, problemBody(400, 'invalid_idempotency_key', detail));
  }

  const bodyFingerprint = fingerprint(raw);
  const stored = state.storedResponse(channel, kind, idempotencyKey);
  if (stored) {
    record('duplicate', stored.httpStatus, { bodyDiffers: stored.bodyFingerprint !== bodyFingerprint });
    reply.header('idempotent-replayed', 'true');
    return sendResponse(reply, stored.httpStatus, stored.body);
  }

  const outcome = decideAndApply(state, channel, parkId, kind, body, version);
  state.storeResponse(channel, kind, idempotencyKey, { httpStatus: outcome.httpStatus, body: outcome.body, bodyFingerprint });
  record(outcome.status, outcome.httpStatus, outcome.reason === undefined ? {} : { reason: outcome.reason });
  return sendResponse(reply, outcome.httpStatus, outcome.body);
}

/**
 * Carries out a misbehaving mode. Returns 'responded' or 'dropped' when the
 * push is finished, or null when it should go on to the normal checks (slow
 * mode after its delay).
 */
async function applyMode(
  options: PushRouteOptions,
  mode: ChannelMode,
  request: FastifyRequest<{ Params: ChannelParams }>,
  reply: FastifyReply,
  record: RecordPush,
): Promise<'responded' | 'dropped' | null> {
  const { channel } = request.params;
  switch (mode.mode) {
    case 'down':
      record('dropped', null, { reason: 'mode_down' });
      dropConnection(request, reply);
      return 'dropped';
    case 'fail':
      record('failed', mode.status, { reason: 'mode_fail' });
      if (mode.retryAfterSeconds !== null) reply.header('retry-after', String(mode.retryAfterSeconds));
      sendResponse(reply, mode.status, problemBody(mode.status, 'simulated_failure', `Channel "${channel}" is in fail mode.`));
      return 'responded';
    case 'rate_limit':
      record('rate_limited', 429, { reason: 'mode_rate_limit' });
      reply.header('retry-after', String(mode.retryAfterSeconds ?? 0));
      sendResponse(reply, 429, problemBody(429, 'rate_limited', `Channel "${channel}" is in rate_limit mode. Retry after the number of seconds in Retry-After.`));
      return 'responded';
    case 'slow':
      try {
        await sleep(mode.delayMs, undefined, { signal: options.shutdown });
      } catch {
        // The simulator is closing, so the push is dropped instead of holding the server open.
        record('dropped', null, { reason: 'closing' });
        dropConnection(request, reply);
        return 'dropped';
      }
      return null;
  }
}

export function pushRoutes(options: PushRouteOptions): FastifyPluginAsync {
  return async (app) => {
    // The signature covers the exact bytes, so pushes keep the raw body and parse it in the handler.
    app.removeAllContentTypeParsers();
    app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));

    // Health check for parksync's resume: healthy unless the channel's mode is fail or down (the mode is not used up).
    app.get<{ Params: ChannelParams }>('/channels/:channel/health', { schema: { params: ChannelParamsSchema } }, async (request, reply) => {
      const mode = options.state.modeOf(request.params.channel);
      if (mode?.mode === 'down') {
        request.raw.socket.destroy();
        return reply;
      }
      if (mode?.mode === 'fail') return reply.code(mode.status).send({ healthy: false });
      return reply.send({ healthy: true });
    });

    // The channel's view of one park over a window, as parksync's reconcile reads it.
    app.get<{ Params: ChannelParams; Querystring: { parkId?: string; from?: string; to?: string } }>(
      '/channels/:channel/view',
      { schema: { params: ChannelParamsSchema } },
      async (request, reply) => {
        const { parkId, from, to } = request.query;
        if (!parkId || !from || !to) return reply.code(400).send({ error: 'parkId, from and to are required' });
        const mode = options.state.modeOf(request.params.channel);
        if (mode?.mode === 'fail') return reply.code(mode.status).send({ error: 'simulated failure' });
        const view = options.state.view(request.params.channel, parkId);
        const within = (night: { date: string }) => night.date >= from && night.date <= to;
        return { availability: view.availability.filter(within), rates: view.rates.filter(within) };
      },
    );

    for (const kind of PUSH_KINDS) {
      app.post<{ Params: ChannelParams }>(`/channels/:channel/${kind}`, { schema: { params: ChannelParamsSchema } }, (request, reply) =>
        handlePush(options, kind, request, reply),
      );
    }
  };
}
