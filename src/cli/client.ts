import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { request } from 'undici';
import { FIRST_TOKEN_FILE } from '../auth/first-token.ts';

export interface ClientOptions {
  url: string;
  token: string | undefined;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly body: unknown,
  ) {
    super(`HTTP ${status}`);
  }
}

/**
 * The token the CLI sends: --token, then PARKSYNC_TOKEN, then the first-start
 * token file in the data directory, so a newcomer's first commands just work.
 */
export function resolveToken(explicit: string | undefined, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (explicit) return explicit;
  if (env.PARKSYNC_TOKEN) return env.PARKSYNC_TOKEN;
  const file = path.resolve(env.PARKSYNC_DATA_DIR || './data', FIRST_TOKEN_FILE);
  return existsSync(file) ? readFileSync(file, 'utf8').trim() : undefined;
}

/** Sends one API request and returns the parsed JSON body, or raises ApiError for a non-2xx response. */
export async function callApi(options: ClientOptions, method: string, pathname: string, body?: unknown): Promise<unknown> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const response = await request(new URL(pathname, options.url), {
    method: method as 'GET',
    headers,
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await response.body.text();
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    // A non-JSON response (a proxy error page, say) is shown as text.
  }
  if (response.statusCode >= 400) throw new ApiError(response.statusCode, parsed);
  return parsed;
}
