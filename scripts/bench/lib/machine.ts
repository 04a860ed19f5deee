import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import pg from 'pg';

/** The machine a run measured on, read when the run starts. */
export interface MachineInfo {
  nproc: number;
  cpuModel: string;
  memoryGiB: number;
  node: string;
  postgres: string;
  pglite: string;
  loadAverage: string;
  date: string;
}

function readNproc(): number {
  try {
    return Number(execFileSync('nproc', { encoding: 'utf8' }).trim());
  } catch {
    return os.availableParallelism();
  }
}

function pgliteVersion(): string {
  try {
    const manifest = JSON.parse(readFileSync(new URL('../../../node_modules/@electric-sql/pglite/package.json', import.meta.url), 'utf8')) as {
      version?: string;
    };
    return manifest.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

async function postgresVersion(adminUrl: string): Promise<string> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const result = await client.query<{ server_version: string }>('show server_version');
    return result.rows[0]?.server_version ?? 'unknown';
  } finally {
    await client.end();
  }
}

export async function readMachine(adminUrl: string): Promise<MachineInfo> {
  return {
    nproc: readNproc(),
    cpuModel: os.cpus()[0]?.model.trim() ?? 'unknown',
    memoryGiB: os.totalmem() / 1024 ** 3,
    node: process.version,
    postgres: await postgresVersion(adminUrl),
    pglite: pgliteVersion(),
    loadAverage: os
      .loadavg()
      .map((value) => value.toFixed(2))
      .join(' '),
    date: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
  };
}

/** One line for the report, such as "2 CPUs (nproc), 23.5 GiB, Node v20.20.2, PostgreSQL 15.20". */
export function describeMachine(machine: MachineInfo): string {
  return (
    `${machine.nproc} CPUs (nproc, ${machine.cpuModel}), ${machine.memoryGiB.toFixed(1)} GiB memory, ` +
    `Node ${machine.node}, PostgreSQL ${machine.postgres}, PGlite ${machine.pglite}; ` +
    `load average ${machine.loadAverage} at the start`
  );
}
