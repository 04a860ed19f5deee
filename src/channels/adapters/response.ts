import { parseRetryAfter } from '../../sync/backoff.ts';

/** What a channel's response means for a delivery. */
export type DeliveryOutcome =
  | { result: 'delivered'; httpStatus: number }
  | { result: 'retry'; httpStatus: number | null; error: string; retryAfterMs: number | undefined }
  | { result: 'permanent'; httpStatus: number; error: string };

/** Classifies a channel's response: 2xx delivered; 408, 429 and 5xx retried; any other 4xx permanent. */
export function classifyResponse(status: number, retryAfter: string | string[] | undefined, now: Date, bodyText: string): DeliveryOutcome {
  if (status >= 200 && status < 300) return { result: 'delivered', httpStatus: status };
  const error = `HTTP ${status}: ${bodyText.slice(0, 300)}`;
  if (status === 408 || status === 429 || status >= 500) {
    return { result: 'retry', httpStatus: status, error, retryAfterMs: parseRetryAfter(retryAfter, now) };
  }
  return { result: 'permanent', httpStatus: status, error };
}
