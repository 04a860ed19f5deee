/**
 * The error catalogue: every problem parksync returns, with its HTTP status and
 * title. The HTTP layer turns an AppError into application/problem+json
 * (RFC 9457) carrying `code` and the request id. docs/errors.md lists each code,
 * and a test keeps the two in step.
 */
export const ERROR_CATALOGUE = {
  invalid_json: { status: 400, title: 'Request body is not valid JSON' },
  invalid_request: { status: 400, title: 'Request is malformed' },
  missing_header: { status: 400, title: 'A required header is missing' },
  invalid_cursor: { status: 400, title: 'Cursor is malformed or belongs to another endpoint, park or channel' },
  unauthorized: { status: 401, title: 'Missing or invalid bearer token' },
  invalid_signature: { status: 401, title: 'Webhook signature is missing or invalid' },
  invalid_timestamp: { status: 401, title: 'Webhook timestamp is missing or not Unix seconds' },
  timestamp_out_of_window: { status: 401, title: 'Webhook timestamp is outside the allowed clock-skew window' },
  forbidden: { status: 403, title: 'Token lacks the required scope' },
  forbidden_park: { status: 403, title: 'Token is not allowed for this park' },
  not_found: { status: 404, title: 'Resource not found' },
  park_not_found: { status: 404, title: 'Park not found' },
  unit_type_not_found: { status: 404, title: 'Unit type not found' },
  connection_not_found: { status: 404, title: 'Connection not found' },
  flag_not_found: { status: 404, title: 'Feature flag not found' },
  token_not_found: { status: 404, title: 'Token not found' },
  reservation_not_found: { status: 404, title: 'Reservation not found' },
  park_exists: { status: 409, title: 'A park with this id already exists' },
  reservation_exists: { status: 409, title: 'A reservation with this id already exists' },
  overbooked: { status: 409, title: 'Not enough units on some nights' },
  stale_version: { status: 409, title: 'A newer version of this entity was already applied' },
  version_conflict: { status: 409, title: 'This version of the entity was already applied' },
  idempotency_in_progress: { status: 409, title: 'A request with this Idempotency-Key is still being processed' },
  health_check_failed: { status: 409, title: "The channel's health check failed; the connection stays paused" },
  payload_too_large: { status: 413, title: 'Request body is too large' },
  unsupported_media_type: { status: 415, title: 'Content type is not supported' },
  validation_failed: { status: 422, title: 'Request failed validation' },
  idempotency_key_reused: { status: 422, title: 'Idempotency-Key was already used with a different body' },
  rate_limited: { status: 429, title: 'Rate limit exceeded' },
  internal_error: { status: 500, title: 'Internal error' },
  connection_misconfigured: { status: 500, title: 'The connection has no usable signing secret' },
  connection_paused: { status: 503, title: 'Connection is paused' },
  database_unavailable: { status: 503, title: 'Database is unavailable' },
} as const satisfies Record<string, { status: number; title: string }>;

export type ErrorCode = keyof typeof ERROR_CATALOGUE;

/** One field that failed validation, named by its JSON pointer into the request body or query. */
export interface FieldError {
  field: string;
  message: string;
}

export interface AppErrorOptions {
  /** Extra members of the problem document, such as the failed nights of an overbooking. */
  extensions?: Record<string, unknown>;
  errors?: FieldError[];
  headers?: Record<string, string>;
  cause?: unknown;
}

export class AppError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly title: string;
  readonly extensions: Record<string, unknown>;
  readonly errors: FieldError[] | undefined;
  readonly headers: Record<string, string>;

  constructor(code: ErrorCode, detail: string, options: AppErrorOptions = {}) {
    super(detail, { cause: options.cause });
    this.name = 'AppError';
    this.code = code;
    this.status = ERROR_CATALOGUE[code].status;
    this.title = ERROR_CATALOGUE[code].title;
    this.extensions = options.extensions ?? {};
    this.errors = options.errors;
    this.headers = options.headers ?? {};
  }
}

/** A 422 naming each invalid field and how to fix it. */
export function validationError(errors: FieldError[]): AppError {
  const first = errors[0];
  const detail =
    errors.length === 1 && first ? `${first.field}: ${first.message}` : `${errors.length} fields are invalid`;
  return new AppError('validation_failed', detail, { errors });
}

/** Recognises a PostgreSQL error by SQLSTATE, never by message text. */
export function sqlState(error: unknown): string | undefined {
  if (typeof error === 'object' && error !== null && 'code' in error) {
    const code = (error as { code: unknown }).code;
    if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) return code;
  }
  return undefined;
}

export const SQLSTATE = {
  uniqueViolation: '23505',
  foreignKeyViolation: '23503',
  checkViolation: '23514',
  serializationFailure: '40001',
  deadlockDetected: '40P01',
  /** Raised through parksync_check (migrations/0008) to stop the one-statement webhook apply; see that migration. */
  versionRefused: 'PS409',
  keyStored: 'PS412',
  targetChanged: 'PS428',
} as const;
