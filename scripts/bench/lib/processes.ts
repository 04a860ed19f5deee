import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';

/**
 * Child processes for benchmarks and the reliability suite: parksync roles
 * started with `bin/parksync.mjs`, and the bare floor server. Each child gets
 * an environment built here, never the caller's, so a DATABASE_URL in the
 * shell cannot point a run at another database.
 */

const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const PARKSYNC_BIN = path.join(REPO_ROOT, 'bin/parksync.mjs');
const FLOOR_SERVER = path.join(REPO_ROOT, 'scripts/bench/floor-server.ts');

const START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 30_000;

export type Role = 'serve' | 'work' | 'all';

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** Resident memory of a process from /proc, in kilobytes: the current value and the peak since it started. */
export interface MemoryReading {
  rssKb: number;
  peakRssKb: number;
}

export interface ChildHandle {
  name: string;
  child: ChildProcess;
  pid: number;
  logFile: string;
  /** Base URL for a process with an HTTP listener. */
  url: string | undefined;
  exited: Promise<ExitStatus>;
  isRunning(): boolean;
  memory(): MemoryReading | undefined;
  /** CPU time used so far, user and system, in milliseconds. */
  cpuMs(): number;
  logTail(lines?: number): string;
  /** Sends SIGTERM and waits for the exit; SIGKILL after the stop timeout. */
  stop(): Promise<ExitStatus>;
  /** Sends SIGKILL, as a crash or the out-of-memory killer would, and waits for the exit. */
  kill(): Promise<ExitStatus>;
}

/** Asks the kernel for a free TCP port on 127.0.0.1. Another process could take it before the caller binds it, which is rare enough for local runs. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Clock ticks per second of /proc/<pid>/stat times; 100 on Linux for x86 and arm64. */
export const CLOCK_TICKS_PER_SECOND = 100;

/** CPU time a process has used so far, user and system, in milliseconds; NaN when it is gone. */
export function readCpuMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name, which is in parentheses and may contain spaces.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]);
    return (ticks * 1000) / CLOCK_TICKS_PER_SECOND;
  } catch {
    return Number.NaN;
  }
}

export function readMemory(pid: number): MemoryReading | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN);
    return { rssKb: field('VmRSS'), peakRssKb: field('VmHWM') };
  } catch {
    return undefined;
  }
}

/**
 * Samples a process's resident memory every `intervalMs` until stopped.
 * The kernel's own peak (VmHWM) is read too, so a spike between two samples
 * still counts.
 */
export function sampleMemory(pid: number, intervalMs: number): { stop(): { samples: Array<{ atMs: number; rssKb: number }>; peakRssKb: number; kernelPeakRssKb: number } } {
  const started = Date.now();
  const samples: Array<{ atMs: number; rssKb: number }> = [];
  let kernelPeak = Number.NaN;
  const take = () => {
    const reading = readMemory(pid);
    if (!reading) return;
    samples.push({ atMs: Date.now() - started, rssKb: reading.rssKb });
    kernelPeak = reading.peakRssKb;
  };
  take();
  const timer = setInterval(take, intervalMs);
  return {
    stop() {
      clearInterval(timer);
      take();
      return { samples, peakRssKb: Math.max(...samples.map((sample) => sample.rssKb)), kernelPeakRssKb: kernelPeak };
    },
  };
}

function tail(file: string, lines: number): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

async function waitForExit(handle: { exited: Promise<ExitStatus> }, timeoutMs: number): Promise<ExitStatus | undefined> {
  return Promise.race([handle.exited, sleep(timeoutMs).then(() => undefined)]);
}

/** Every child started and not yet exited, so an interrupted run can kill them all. */
const liveChildren = new Set<ChildProcess>();

/** Kills every child this process started that still runs; for SIGINT handlers. */
export function killLiveChildren(): void {
  for (const child of liveChildren) child.kill('SIGKILL');
}

function spawnLogged(name: string, args: string[], env: NodeJS.ProcessEnv, logDir: string, url: string | undefined): ChildHandle {
  const logFile = path.join(logDir, `${name}.log`);
  const log = openSync(logFile, 'a');
  const child = spawn(process.execPath, args, { cwd: REPO_ROOT, env, stdio: ['ignore', log, log] });
  closeSync(log);
  if (child.pid === undefined) throw new Error(`could not start ${name}`);
  const pid = child.pid;
  liveChildren.add(child);
  const exited = new Promise<ExitStatus>((resolve) =>
    child.once('exit', (code, signal) => {
      liveChildren.delete(child);
      resolve({ code, signal });
    }),
  );
  const isRunning = () => child.exitCode === null && child.signalCode === null;
  const handle: ChildHandle = {
    name,
    child,
    pid,
    logFile,
    url,
    exited,
    isRunning,
    memory: () => readMemory(pid),
    cpuMs: () => readCpuMs(pid),
    logTail: (lines = 20) => tail(logFile, lines),
    async stop() {
      if (!isRunning()) return exited;
      child.kill('SIGTERM');
      const status = await waitForExit(handle, STOP_TIMEOUT_MS);
      if (status) return status;
      child.kill('SIGKILL');
      return exited;
    },
    async kill() {
      if (!isRunning()) return exited;
      child.kill('SIGKILL');
      const status = await waitForExit(handle, 10_000);
      if (!status) throw new Error(`${name} (pid ${pid}) did not exit within 10 s of SIGKILL`);
      return status;
    },
  };
  return handle;
}

/** Polls `url` until it returns 200, the child exits, or the start timeout passes. */
async function waitUntilReady(handle: ChildHandle, url: string): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (!handle.isRunning()) throw new Error(`${handle.name} exited during start; its log ends with:\n${handle.logTail()}`);
    try {
      const response = await request(url, { method: 'GET', headersTimeout: 2_000, bodyTimeout: 2_000 });
      await response.body.dump();
      if (response.statusCode === 200) return;
    } catch {
      // Not listening yet.
    }
    await sleep(100);
  }
  await handle.stop();
  throw new Error(`${handle.name} was not ready within ${START_TIMEOUT_MS} ms; its log ends with:\n${handle.logTail()}`);
}

/** Waits until the log contains a line with `marker`. */
async function waitForLogLine(handle: ChildHandle, marker: string): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (!handle.isRunning()) throw new Error(`${handle.name} exited during start; its log ends with:\n${handle.logTail()}`);
    if (readFileSync(handle.logFile, 'utf8').includes(marker)) return;
    await sleep(100);
  }
  await handle.stop();
  throw new Error(`${handle.name} did not log "${marker}" within ${START_TIMEOUT_MS} ms; its log ends with:\n${handle.logTail()}`);
}

export interface ServiceOptions {
  name: string;
  role: Role;
  logDir: string;
  adminToken: string;
  /** PostgreSQL URL; without it the process uses PGlite in dataDir. */
  databaseUrl?: string;
  /** Data directory: PGlite's files, or only the unused first-token file with PostgreSQL. */
  dataDir?: string;
  /** Port for serve and all; a free one is picked when absent. */
  port?: number;
  /** Defaults to warn for serve (no line per request) and info for work, whose start line the caller waits for. */
  logLevel?: string;
  deliveryLeaseSeconds?: number;
  /** Extra options for node, such as --cpu-prof. */
  nodeArgs?: string[];
}

/** Starts one parksync role and waits until it is ready: /readyz returns 200, or a worker logged its start. */
export async function startServiceProcess(options: ServiceOptions): Promise<ChildHandle> {
  const serves = options.role !== 'work';
  const port = serves ? (options.port ?? (await freePort())) : undefined;
  const url = port === undefined ? undefined : `http://127.0.0.1:${port}`;
  const logLevel = options.logLevel ?? (options.role === 'serve' ? 'warn' : 'info');
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? options.logDir,
    TMPDIR: tmpdir(),
    HOST: '127.0.0.1',
    PORT: String(port ?? 0),
    PARKSYNC_ADMIN_TOKEN: options.adminToken,
    PARKSYNC_DATA_DIR: options.dataDir ?? path.join(options.logDir, `${options.name}-data`),
    LOG_LEVEL: logLevel,
    ...(options.databaseUrl ? { DATABASE_URL: options.databaseUrl } : {}),
    ...(options.deliveryLeaseSeconds ? { PARKSYNC_DELIVERY_LEASE_SECONDS: String(options.deliveryLeaseSeconds) } : {}),
  };
  const handle = spawnLogged(options.name, [...(options.nodeArgs ?? []), PARKSYNC_BIN, options.role], env, options.logDir, url);
  if (url) await waitUntilReady(handle, `${url}/readyz`);
  else await waitForLogLine(handle, '"worker started"');
  return handle;
}

export interface FloorOptions {
  name: string;
  logDir: string;
  secret: string;
  databaseUrl?: string;
  /** PGlite directory when databaseUrl is absent. */
  dataDir?: string;
  /** Extra options for node, such as --cpu-prof. */
  nodeArgs?: string[];
}

/** Starts the bare floor server (scripts/bench/floor-server.ts) and waits until it responds. */
export async function startFloorProcess(options: FloorOptions): Promise<ChildHandle> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? options.logDir,
    TMPDIR: tmpdir(),
    FLOOR_PORT: String(port),
    FLOOR_SECRET: options.secret,
    ...(options.databaseUrl ? { FLOOR_DATABASE_URL: options.databaseUrl } : { FLOOR_DATA_DIR: options.dataDir ?? path.join(options.logDir, `${options.name}-data`) }),
  };
  const handle = spawnLogged(options.name, [...(options.nodeArgs ?? []), '--import', 'tsx', FLOOR_SERVER], env, options.logDir, url);
  await waitUntilReady(handle, `${url}/ready`);
  return handle;
}

/** Stops every handle that still runs; used in finally blocks so no child outlives a run. */
export async function stopAll(handles: ReadonlyArray<ChildHandle | undefined>): Promise<void> {
  await Promise.all(handles.map((handle) => handle?.stop().catch(() => undefined)));
}
