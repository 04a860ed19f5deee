import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';

export type Role = 'serve' | 'work' | 'all';

export interface Config {
  host: string;
  port: number;
  /** PostgreSQL URL; when absent parksync uses the embedded PGlite database in dataDir. */
  databaseUrl: string | undefined;
  dataDir: string;
  /** When set, an admin token with exactly this value is created or refreshed at start. */
  adminToken: string | undefined;
  logLevel: string;
  /** Identifies this process in worker leases and logs. */
  instanceId: string;
  /** Seconds to wait for in-flight requests and jobs during shutdown before exiting anyway. */
  shutdownGraceSeconds: number;
  /** Seconds a worker holds a delivery; a worker that dies mid-delivery loses it to another after this. */
  deliveryLeaseSeconds: number;
}

function readSeconds(name: string, text: string | undefined, fallback: number, minimum: number): number {
  if (text === undefined || text === '') return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < minimum) {
    throw new Error(`${name} must be a whole number of seconds, at least ${minimum}; got "${text}"`);
  }
  return value;
}

function readPort(text: string | undefined): number {
  if (text === undefined || text === '') return 8080;
  const port = Number(text);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`PORT must be an integer from 0 to 65535, got "${text}"`);
  }
  return port;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const adminToken = env.PARKSYNC_ADMIN_TOKEN?.trim();
  if (adminToken !== undefined && adminToken !== '' && adminToken.length < 24) {
    throw new Error('PARKSYNC_ADMIN_TOKEN must be at least 24 characters long; generate one with: openssl rand -hex 24');
  }
  return {
    host: env.HOST ?? '127.0.0.1',
    port: readPort(env.PORT),
    databaseUrl: env.DATABASE_URL?.trim() || undefined,
    dataDir: env.PARKSYNC_DATA_DIR?.trim() || './data',
    adminToken: adminToken || undefined,
    logLevel: env.LOG_LEVEL ?? 'info',
    instanceId: `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`,
    shutdownGraceSeconds: readSeconds('PARKSYNC_SHUTDOWN_GRACE_SECONDS', env.PARKSYNC_SHUTDOWN_GRACE_SECONDS, 20, 1),
    // The lease must outlast one attempt (10 s timeout), or a slow but live delivery could be sent twice at once.
    deliveryLeaseSeconds: readSeconds('PARKSYNC_DELIVERY_LEASE_SECONDS', env.PARKSYNC_DELIVERY_LEASE_SECONDS, 60, 15),
  };
}
