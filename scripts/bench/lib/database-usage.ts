import { readdirSync, readFileSync } from 'node:fs';
import pg from 'pg';
import { CLOCK_TICKS_PER_SECOND } from './processes.ts';

/** A reading of the PostgreSQL server at one moment: its WAL position and the CPU time of its processes. */
export interface DatabaseUsage {
  walLsn: string;
  /** CPU time of every process named postgres on this machine, in milliseconds. */
  cpuMs: number;
}

/** Reads the fields after the command name of /proc/PID/stat, or undefined when the process is gone. */
function statFields(pid: string): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/**
 * Sums the CPU time of the postgres processes, including backends that have
 * exited: the postmaster's cutime and cstime hold the time of its reaped
 * children, so the sum only grows while connections come and go. The
 * benchmarks run the server on this machine.
 */
function postgresCpuMs(): number {
  const postgres = new Map<string, string[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/comm`, 'utf8').trim() !== 'postgres') continue;
    } catch {
      continue;
    }
    const fields = statFields(entry);
    if (fields) postgres.set(entry, fields);
  }
  let ticks = 0;
  for (const fields of postgres.values()) {
    ticks += Number(fields[11]) + Number(fields[12]);
    // fields[1] is the parent pid; a postgres process whose parent is not one is the postmaster.
    if (!postgres.has(fields[1] ?? '')) ticks += Number(fields[13]) + Number(fields[14]);
  }
  return (ticks * 1000) / CLOCK_TICKS_PER_SECOND;
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
