import { readdirSync, readFileSync } from 'node:fs';
import pg from 'pg';
import { readCpuMs } from './processes.ts';

/** A reading of the PostgreSQL server at one moment: its WAL position and the CPU time of its processes. */
export interface DatabaseUsage {
  walLsn: string;
  /** CPU time of every process named postgres on this machine, in milliseconds. */
  cpuMs: number;
}

/** Sums the CPU time of the postgres processes; the benchmarks run the server on this machine. */
function postgresCpuMs(): number {
  let total = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/comm`, 'utf8').trim() !== 'postgres') continue;
    } catch {
      continue;
    }
    const cpu = readCpuMs(Number(entry));
    if (Number.isFinite(cpu)) total += cpu;
  }
  return total;
}

export async function readDatabaseUsage(databaseUrl: string): Promise<DatabaseUsage> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const result = await client.query<{ lsn: string }>('select pg_current_wal_lsn()::text as lsn');
    return { walLsn: result.rows[0]?.lsn ?? '0/0', cpuMs: postgresCpuMs() };
  } finally {
    await client.end();
  }
}

/** Computes the WAL bytes and server CPU milliseconds between two readings, per unit of work. */
export async function usagePer(
  databaseUrl: string,
  before: DatabaseUsage,
  after: DatabaseUsage,
  units: number,
): Promise<{ walBytes: number; cpuMs: number }> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const diff = await client.query<{ bytes: string }>('select pg_wal_lsn_diff($1::pg_lsn, $2::pg_lsn)::text as bytes', [after.walLsn, before.walLsn]);
    const per = Math.max(1, units);
    return { walBytes: Number(diff.rows[0]?.bytes ?? 0) / per, cpuMs: (after.cpuMs - before.cpuMs) / per };
  } finally {
    await client.end();
  }
}
