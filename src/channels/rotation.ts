import type { Executor } from '../audit/audit.ts';
import { getConnection } from './connections.ts';
import { generateSigningSecret } from './secrets.ts';

/**
 * Replaces the current signing secret with a new one. The old one becomes the
 * previous secret and verifies until `graceSeconds` from now; a secret that was
 * already previous is dropped, so at most two verify at any time.
 */
export async function rotateSecret(
  db: Executor,
  parkId: string,
  channel: string,
  graceSeconds: number,
  now: Date,
): Promise<{ secret: string; previousValidUntil: Date }> {
  await getConnection(db, parkId, channel);
  const secret = generateSigningSecret();
  const previousValidUntil = new Date(now.getTime() + graceSeconds * 1000);
  // The previous secret is taken from the row the UPDATE locks, not from an
  // earlier read: a concurrent rotation could otherwise overwrite the secret
  // it just handed out, and that secret would never verify.
  await db
    .updateTable('connections')
    .set((eb) => ({
      secret_previous: eb.ref('secret_current'),
      secret_previous_until: previousValidUntil,
      secret_current: secret,
      updated_at: now,
    }))
    .where('park_id', '=', parkId)
    .where('channel', '=', channel)
    .execute();
  return { secret, previousValidUntil };
}
