import { Type, type Static } from 'typebox';

/**
 * Response modes a test sets per channel to make the simulated channel
 * misbehave. They apply to pushes only, never to the control API.
 *
 * - ok: pushes are checked and stored normally.
 * - fail: responds with `status` (default 503) and stores nothing.
 * - slow: waits `delayMs`, then handles the push normally.
 * - rate_limit: responds with 429 and `Retry-After: retryAfterSeconds`.
 * - down: closes the socket without a response.
 *
 * With `count`, the mode applies to that many pushes and then reverts to ok.
 */
export const MODE_NAMES = ['ok', 'fail', 'slow', 'rate_limit', 'down'] as const;
export type ModeName = (typeof MODE_NAMES)[number];

export const DEFAULT_FAIL_STATUS = 503;
export const DEFAULT_DELAY_MS = 1000;
export const DEFAULT_RETRY_AFTER_SECONDS = 1;

export const ModeBodySchema = Type.Object(
  {
    mode: Type.Enum(MODE_NAMES),
    status: Type.Optional(Type.Integer({ minimum: 400, maximum: 599, description: 'HTTP status for fail (default 503)' })),
    delayMs: Type.Optional(Type.Integer({ minimum: 0, maximum: 600_000, description: 'Delay for slow, in milliseconds (default 1000)' })),
    retryAfterSeconds: Type.Optional(
      Type.Integer({ minimum: 0, maximum: 86_400, description: 'Retry-After for rate_limit (default 1); also sent by fail when given' }),
    ),
    count: Type.Optional(Type.Integer({ minimum: 1, description: 'Pushes the mode applies to before it reverts to ok' })),
  },
  { additionalProperties: false },
);

export type ModeBody = Static<typeof ModeBodySchema>;

/** The mode in effect for one channel. A null `remaining` means the mode lasts until it is changed. */
export interface ChannelMode {
  mode: Exclude<ModeName, 'ok'>;
  status: number;
  delayMs: number;
  /** Retry-After to send, in seconds. Null sends no header. */
  retryAfterSeconds: number | null;
  remaining: number | null;
}

/** Builds the stored mode from a control request with defaults filled in. Returns null for ok. */
export function toChannelMode(body: ModeBody): ChannelMode | null {
  if (body.mode === 'ok') return null;
  const retryAfterSeconds =
    body.retryAfterSeconds ?? (body.mode === 'rate_limit' ? DEFAULT_RETRY_AFTER_SECONDS : null);
  return {
    mode: body.mode,
    status: body.mode === 'rate_limit' ? 429 : (body.status ?? DEFAULT_FAIL_STATUS),
    delayMs: body.delayMs ?? DEFAULT_DELAY_MS,
    retryAfterSeconds,
    remaining: body.count ?? null,
  };
}
