import type { LightMyRequestResponse } from 'fastify';
import { expect } from 'vitest';

export interface ProblemDocument {
  code: string;
  status: number;
  detail: string;
  requestId: string;
  errors?: Array<{ field: string; message: string }>;
  [member: string]: unknown;
}

/** Lists the fields named in a problem's `errors`, in order. */
export function fieldsOf(problem: ProblemDocument): string[] {
  return (problem.errors ?? []).map((error) => error.field);
}

/**
 * Checks that a response is an application/problem+json document with the
 * given status and code, carrying the request id, and naming `field` in
 * `errors` when one is given. Returns the parsed document for further checks.
 */
export function expectProblem(
  response: LightMyRequestResponse,
  status: number,
  code: string,
  field?: string,
): ProblemDocument {
  expect(response.statusCode, `status of: ${response.body}`).toBe(status);
  expect(response.headers['content-type'], 'content type').toContain('application/problem+json');
  const problem = response.json<ProblemDocument>();
  expect(problem.code, 'problem code').toBe(code);
  expect(problem.status, 'problem status').toBe(status);
  expect(problem.requestId, 'problem request id').toBe(response.headers['x-request-id']);
  expect(problem.requestId.length, 'request id length').toBeGreaterThan(0);
  if (field !== undefined) expect(fieldsOf(problem), 'fields named in errors').toContain(field);
  return problem;
}
