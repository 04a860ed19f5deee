import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { AppError, ERROR_CATALOGUE, type ErrorCode, type FieldError } from '../errors.ts';

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

interface ValidationIssue {
  instancePath: string;
  keyword: string;
  message?: string;
  params: Record<string, unknown>;
}

/** Turns "/updates/0/from" into "updates[0].from", the way the docs name fields. */
export function pointerToField(pointer: string): string {
  return pointer
    .split('/')
    .filter((part) => part !== '')
    .map((part) => part.replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce((path, part) => {
      if (/^\d+$/.test(part)) return `${path}[${part}]`;
      return path ? `${path}.${part}` : part;
    }, '');
}

function describeIssue(issue: ValidationIssue, part: string): FieldError {
  let field = pointerToField(issue.instancePath);
  let message = issue.message ?? 'is invalid';
  if (issue.keyword === 'required' && typeof issue.params.missingProperty === 'string') {
    field = field ? `${field}.${issue.params.missingProperty}` : issue.params.missingProperty;
    message = 'is required';
  } else if (issue.keyword === 'additionalProperties' && typeof issue.params.additionalProperty === 'string') {
    field = field ? `${field}.${issue.params.additionalProperty}` : issue.params.additionalProperty;
    message = 'is not a known field; remove it';
  } else if (issue.keyword === 'enum' && Array.isArray(issue.params.allowedValues)) {
    message = `must be one of: ${issue.params.allowedValues.join(', ')}`;
  }
  const location = part === 'body' ? '' : `${part === 'querystring' ? 'query' : part}:`;
  return { field: `${location}${field || '(root)'}`, message };
}

/** Turns JSON schema validation issues into field errors, one per field and message. */
export function issuesToFieldErrors(issues: readonly ValidationIssue[], part: string): FieldError[] {
  const described = issues.map((issue) => describeIssue(issue, part));
  return described.filter(
    (issue, index) => described.findIndex((other) => other.field === issue.field && other.message === issue.message) === index,
  );
}

/** Maps Fastify's own errors (parsing, limits, schema validation) onto catalogue codes. */
export function toAppError(error: FastifyError): AppError {
  if (error instanceof AppError) return error;
  if (error.validation) {
    const unique = issuesToFieldErrors(error.validation as ValidationIssue[], error.validationContext ?? 'body');
    const first = unique[0];
    const detail = unique.length === 1 && first ? `${first.field} ${first.message}` : `${unique.length} fields are invalid`;
    return new AppError('validation_failed', detail, { errors: unique });
  }
  switch (error.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new AppError('payload_too_large', 'The request body is over the 256 KiB limit; split it into smaller requests.');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new AppError('unsupported_media_type', 'Send the body as application/json.');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new AppError('invalid_json', 'The body is empty; send a JSON document.');
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return new AppError('invalid_json', 'The body is not valid JSON.');
  }
  if (error instanceof SyntaxError || error.statusCode === 400) {
    return new AppError('invalid_json', `The body could not be parsed: ${error.message}`);
  }
  if (isDatabaseUnavailable(error)) {
    return new AppError('database_unavailable', 'The database cannot be reached; retry shortly.', {
      headers: { 'retry-after': '5' },
      cause: error,
    });
  }
  if (typeof error.statusCode === 'number' && error.statusCode >= 400 && error.statusCode < 500) {
    return new AppError('invalid_request', error.message);
  }
  return new AppError('internal_error', 'An unexpected error occurred; the request id identifies it in the logs.', {
    cause: error,
  });
}

/** Connection-level failures: the server is down, restarting, or refusing connections. */
function isDatabaseUnavailable(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  if (typeof code !== 'string') return false;
  return ['ECONNREFUSED', 'ECONNRESET', '57P01', '57P02', '57P03', '08000', '08003', '08006'].includes(code);
}

export function problemBody(error: AppError, request: FastifyRequest): Record<string, unknown> {
  return problemDocument(error, request.url.split('?')[0] ?? '/', request.id);
}

/** Builds the RFC 9457 document for an error. `instance` is the request path without its query. */
export function problemDocument(error: AppError, instance: string, requestId: string): Record<string, unknown> {
  return {
    type: `urn:parksync:problem:${error.code}`,
    title: error.title,
    status: error.status,
    detail: error.message,
    code: error.code,
    instance,
    requestId,
    ...(error.errors ? { errors: error.errors } : {}),
    ...error.extensions,
  };
}

export function sendProblem(reply: FastifyReply, error: AppError): FastifyReply {
  for (const [name, value] of Object.entries(error.headers)) reply.header(name, value);
  return reply.code(error.status).type(PROBLEM_CONTENT_TYPE).send(problemBody(error, reply.request));
}

/** Shortcut for route code: a problem with a catalogue code. */
export function problem(code: ErrorCode, detail: string, extensions?: Record<string, unknown>): AppError {
  return new AppError(code, detail, extensions ? { extensions } : {});
}

export { ERROR_CATALOGUE };
