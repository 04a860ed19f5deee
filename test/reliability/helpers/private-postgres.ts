import { execFile, execFileSync } from 'node:child_process';
import { chownSync, existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { freePort } from '../../../scripts/bench/lib/processes.ts';

/**
 * A private PostgreSQL server for tests that stop and start the database:
 * its own data directory in a temporary folder, its own port, listening on
 * 127.0.0.1 only, with its socket in that folder. It never touches the
 * machine's main cluster. The Debian binaries refuse to run as root, so every
 * command runs as the postgres user through runuser.
 */

const BIN_DIR = process.env.PARKSYNC_PG_BIN_DIR ?? '/usr/lib/postgresql/15/bin';
const SERVER_USER = 'postgres';
const COMMAND_TIMEOUT_MS = 120_000;

const run = promisify(execFile);

export type StopMode = 'fast' | 'immediate';

/** Why a private server cannot run here, or undefined when it can. */
export function privatePostgresUnavailable(): string | undefined {
  if (!existsSync(path.join(BIN_DIR, 'pg_ctl'))) return `no PostgreSQL binaries in ${BIN_DIR}; set PARKSYNC_PG_BIN_DIR`;
  if (process.getuid?.() !== 0) return 'the test must run as root to start PostgreSQL as the postgres user with runuser';
  try {
    execFileSync('id', ['-u', SERVER_USER], { stdio: 'ignore' });
  } catch {
    return `there is no "${SERVER_USER}" user to run PostgreSQL as`;
  }
  return undefined;
}

export class PrivatePostgres {
  private running = false;

  private constructor(
    readonly directory: string,
    readonly port: number,
  ) {}

  get dataDir(): string {
    return path.join(this.directory, 'data');
  }

  get logFile(): string {
    return path.join(this.directory, 'server.log');
  }

  /** URL of `database` on this server, as the superuser (trust authentication, loopback only). */
  url(database = 'postgres'): string {
    return `postgres://${SERVER_USER}@127.0.0.1:${this.port}/${database}`;
  }

  /** Creates the data directory with initdb and starts the server. */
  static async create(): Promise<PrivatePostgres> {
    const directory = await mkdtemp(path.join(tmpdir(), 'parksync-private-pg-'));
    const uid = Number(execFileSync('id', ['-u', SERVER_USER], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', SERVER_USER], { encoding: 'utf8' }).trim());
    chownSync(directory, uid, gid);
    const server = new PrivatePostgres(directory, await freePort());
    try {
      await server.asServerUser('initdb', ['-D', server.dataDir, '-U', SERVER_USER, '-A', 'trust', '-E', 'UTF8', '--locale=C', '--no-sync']);
      await server.start();
    } catch (error) {
      await server.destroy();
      throw error;
    }
    return server;
  }

  private async asServerUser(program: string, args: string[]): Promise<string> {
    try {
      const { stdout } = await run('runuser', ['-u', SERVER_USER, '--', path.join(BIN_DIR, program), ...args], { timeout: COMMAND_TIMEOUT_MS });
      return stdout;
    } catch (error) {
      const output = error as { stdout?: string; stderr?: string; message: string };
      throw new Error(`${program} failed: ${output.message}\n${output.stdout ?? ''}${output.stderr ?? ''}\nserver log:\n${this.logTail()}`);
    }
  }

  logTail(lines = 20): string {
    try {
      return readFileSync(this.logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
    } catch {
      return '(no server log)';
    }
  }

  /** Starts the server and waits until it accepts connections. */
  async start(): Promise<void> {
    const options = [
      `-c port=${this.port}`,
      '-c listen_addresses=127.0.0.1',
      `-c unix_socket_directories=${this.directory}`,
      '-c max_connections=60',
      '-c fsync=on',
      '-c synchronous_commit=on',
    ].join(' ');
    await this.asServerUser('pg_ctl', ['-D', this.dataDir, '-l', this.logFile, '-w', '-t', '60', '-o', options, 'start']);
    this.running = true;
  }

  /**
   * Stops the server. "fast" rolls back open transactions and disconnects
   * every client, as a planned restart does. "immediate" kills the server
   * processes without a checkpoint, as a crash does, so the next start
   * recovers from the WAL.
   */
  async stop(mode: StopMode): Promise<void> {
    await this.asServerUser('pg_ctl', ['-D', this.dataDir, '-m', mode, '-w', '-t', '60', 'stop']);
    this.running = false;
  }

  get isRunning(): boolean {
    return this.running;
  }

  async createDatabase(name: string): Promise<string> {
    if (!/^[a-z_][a-z0-9_]{0,40}$/.test(name)) throw new Error(`invalid database name "${name}"`);
    const client = new pg.Client({ connectionString: this.url() });
    await client.connect();
    try {
      await client.query(`create database ${name}`);
    } finally {
      await client.end();
    }
    return this.url(name);
  }

  /** Stops the server if it runs and removes its directory. */
  async destroy(): Promise<void> {
    if (this.running || existsSync(path.join(this.dataDir, 'postmaster.pid'))) {
      await this.stop('immediate').catch(() => undefined);
    }
    await rm(this.directory, { recursive: true, force: true });
  }
}
