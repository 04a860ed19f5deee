import type { FastifyReply } from 'fastify';

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

/** Body of every error response: RFC 9457 fields plus a machine-readable `code`, as parksync's own errors carry. */
export interface SimulatorProblem {
  type: 'about:blank';
  status: number;
  code: string;
  detail: string;
  [extra: string]: unknown;
}

export function problemBody(status: number, code: string, detail: string, extra: Record<string, unknown> = {}): SimulatorProblem {
  return { type: 'about:blank', status, code, detail, ...extra };
}

/** Sends a stored or new response. A body with a `code` is sent as problem+json. */
export function sendResponse(reply: FastifyReply, status: number, body: unknown): FastifyReply {
  const isProblem = typeof body === 'object' && body !== null && 'code' in body;
  return reply.code(status).type(isProblem ? PROBLEM_CONTENT_TYPE : 'application/json').send(body);
}
