import type { Kysely, Transaction } from 'kysely';
import { sqlState, SQLSTATE } from '../errors.ts';
import type { Database } from './schema.ts';

/** Raised inside a transaction when a concurrent writer got there first and a fresh attempt will see its row. */
export class RetryTransaction extends Error {
  override readonly name = 'RetryTransaction';
}

const MAX_ATTEMPTS = 4;

function isRetryable(error: unknown): boolean {
  if (error instanceof RetryTransaction) return true;
  const state = sqlState(error);
  return state === SQLSTATE.serializationFailure || state === SQLSTATE.deadlockDetected;
}

/**
 * Runs `work` in a transaction, running it again (up to four attempts) when
 * PostgreSQL reports a serialization failure or deadlock, or the work raises
 * RetryTransaction. `work` must therefore have no effects outside the database.
 */
export async function inTransaction<T>(db: Kysely<Database>, work: (trx: Transaction<Database>) => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await db.transaction().execute(work);
    } catch (error) {
      if (attempt >= MAX_ATTEMPTS || !isRetryable(error)) throw error;
    }
  }
}
