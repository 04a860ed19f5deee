import { sql } from 'kysely';
import type { Executor } from '../audit/audit.ts';

/**
 * Takes or renews the named lease for `owner`. It succeeds when the lease is
 * free, expired, or already held by the same owner, so only one process runs
 * singleton work at a time and a crashed holder is replaced once its lease ends.
 */
export async function acquireLease(db: Executor, name: string, owner: string, seconds: number, now: Date): Promise<boolean> {
  const until = new Date(now.getTime() + seconds * 1000);
  const result = await sql<{ owner: string }>`
    insert into worker_leases (name, owner, lease_until) values (${name}, ${owner}, ${until})
    on conflict (name) do update set owner = excluded.owner, lease_until = excluded.lease_until
      where worker_leases.owner = excluded.owner or worker_leases.lease_until < ${now}
    returning owner
  `.execute(db);
  return result.rows.length === 1;
}

export async function releaseLeases(db: Executor, owner: string): Promise<void> {
  await db.deleteFrom('worker_leases').where('owner', '=', owner).execute();
}
