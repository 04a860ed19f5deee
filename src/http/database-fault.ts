import type { FastifyError } from 'fastify';
import { sql } from 'kysely';
import { AppError } from '../errors.ts';
import type { AppContext } from './context.ts';
import { toAppError } from './problem.ts';

/** Pings the database, giving up after a second. */
async function databaseResponds(ctx: AppContext): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), 1000);
  });
  const ping = sql`select 1`.execute(ctx.db).then(
    () => true,
    () => false,
  );
  try {
    return await Promise.race([ping, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Maps an error to its catalogue entry. A fault that is no known SQLSTATE may
 * still mean the database went away mid-request (node-postgres reports a lost
 * connection without a code), so a quick ping tells a lost database (503,
 * retry) from a bug (500).
 */
export async function toAppErrorWithDatabaseCheck(ctx: AppContext, error: FastifyError): Promise<AppError> {
  const appError = toAppError(error);
  if (appError.code !== 'internal_error' || (await databaseResponds(ctx))) return appError;
  return new AppError('database_unavailable', 'The database cannot be reached; retry shortly.', {
    headers: { 'retry-after': '5' },
    cause: error,
  });
}
