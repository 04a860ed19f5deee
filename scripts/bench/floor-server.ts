import { createHash, createHmac, randomUUID, timingSafeEqual } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { PGlite } from '@electric-sql/pglite';
import Fastify from 'fastify';
import pg from 'pg';

/**
 * The bare floor for the ingest benchmarks: the least a signed availability
 * webhook needs. One Fastify route checks the HMAC-SHA256 signature and the
 * timestamp the way parksync does. Then it runs one transaction with the four
 * writes parksync makes: an idempotency row, an availability upsert guarded by
 * the version, an event row and an outbox row. There are no other checks, no
 * logging and no metrics, so parksync's throughput divided by this one shows
 * what everything else costs.
 *
 * Runs as its own process: FLOOR_PORT, FLOOR_SECRET ("whsec_<base64>"), and
 * either FLOOR_DATABASE_URL (PostgreSQL) or FLOOR_DATA_DIR (PGlite).
 */

const SKEW_WINDOW_SECONDS = 300;
/** The same pool size parksync opens against PostgreSQL. */
const POOL_SIZE = 10;

const SCHEMA = `
  create table if not exists floor_idempotency (
    channel text not null, idempotency_key text not null, fingerprint text not null, created_at timestamptz not null,
    primary key (channel, idempotency_key));
  create table if not exists floor_availability (
    park_id text not null, unit_type_id text not null, date date not null, allotment integer not null,
    version bigint not null, updated_at timestamptz not null, primary key (park_id, unit_type_id, date));
  create table if not exists floor_events (
    event_id uuid primary key, occurred_at timestamptz not null, channel text not null, park_id text not null,
    kind text not null, status text not null, idempotency_key text not null, version bigint not null, http_status integer not null);
  create table if not exists floor_outbox (
    park_id text not null, channel text not null, unit_type_id text not null, date date not null,
    seq bigserial, marked_at timestamptz not null, primary key (park_id, channel, unit_type_id, date));
`;

const CLAIM_KEY = `insert into floor_idempotency (channel, idempotency_key, fingerprint, created_at) values ($1, $2, $3, now())
  on conflict do nothing returning 1`;
const UPSERT_NIGHT = `insert into floor_availability as a (park_id, unit_type_id, date, allotment, version, updated_at)
  values ($1, $2, $3::date, $4, $5, now())
  on conflict (park_id, unit_type_id, date) do update set allotment = excluded.allotment, version = excluded.version, updated_at = now()
  where a.version < excluded.version returning 1`;
const INSERT_EVENT = `insert into floor_events (event_id, occurred_at, channel, park_id, kind, status, idempotency_key, version, http_status)
  values ($1, now(), $2, $3, 'availability', 'applied', $4, $5, 202)`;
const MARK_OUTBOX = `insert into floor_outbox (park_id, channel, unit_type_id, date, marked_at) values ($1, $2, $3, $4::date, now())
  on conflict (park_id, channel, unit_type_id, date) do update set seq = nextval('floor_outbox_seq_seq'), marked_at = now()`;

type Query = (text: string, params: unknown[]) => Promise<{ rows: unknown[] }>;

interface Store {
  /** Runs `work` in one transaction; a thrown error rolls it back. */
  transaction<T>(work: (query: Query) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

async function openStore(): Promise<Store> {
  const databaseUrl = process.env.FLOOR_DATABASE_URL;
  if (databaseUrl) {
    const pool = new pg.Pool({ connectionString: databaseUrl, max: POOL_SIZE, application_name: 'parksync-bench-floor' });
    pool.on('error', () => undefined);
    await pool.query(SCHEMA);
    return {
      async transaction(work) {
        const client = await pool.connect();
        try {
          await client.query('begin');
          const result = await work((text, params) => client.query(text, params));
          await client.query('commit');
          return result;
        } catch (error) {
          await client.query('rollback').catch(() => undefined);
          throw error;
        } finally {
          client.release();
        }
      },
      close: () => pool.end(),
    };
  }
  const dataDir = process.env.FLOOR_DATA_DIR;
  if (!dataDir) throw new Error('set FLOOR_DATABASE_URL or FLOOR_DATA_DIR');
  if (!dataDir.startsWith('memory://')) mkdirSync(dataDir, { recursive: true });
  const client = await PGlite.create(dataDir);
  await client.exec(SCHEMA);
  return {
    transaction: (work) => client.transaction((tx) => work((text, params) => tx.query(text, params))),
    close: () => client.close(),
  };
}

class Rejection extends Error {
  constructor(readonly status: number, readonly code: string) {
    super(code);
  }
}

function header(headers: Record<string, string | string[] | undefined>, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function verifySignature(key: Buffer, headers: Record<string, string | string[] | undefined>, raw: Buffer): void {
  const timestamp = header(headers, 'x-timestamp') ?? '';
  const signature = header(headers, 'x-signature') ?? '';
  if (!/^\d{1,12}$/.test(timestamp)) throw new Rejection(401, 'invalid_timestamp');
  const expected = createHmac('sha256', key).update(`${timestamp}.`).update(raw).digest();
  const matches = signature
    .split(/[\s,]+/)
    .filter((part) => part.startsWith('v1='))
    .map((part) => Buffer.from(part.slice(3), 'hex'))
    .some((candidate) => candidate.length === expected.length && timingSafeEqual(candidate, expected));
  if (!matches) throw new Rejection(401, 'invalid_signature');
  if (Math.abs(Date.now() / 1000 - Number(timestamp)) > SKEW_WINDOW_SECONDS) throw new Rejection(401, 'timestamp_out_of_window');
}

interface NightUpdate {
  parkId: string;
  unitTypeId: string;
  date: string;
  allotment: number;
}

function readUpdate(raw: Buffer): NightUpdate {
  let body: { parkId?: unknown; updates?: Array<{ unitTypeId?: unknown; from?: unknown; allotment?: unknown }> };
  try {
    body = JSON.parse(raw.toString('utf8')) as typeof body;
  } catch {
    throw new Rejection(400, 'invalid_json');
  }
  const update = body.updates?.[0];
  if (typeof body.parkId !== 'string' || !update || typeof update.unitTypeId !== 'string' || typeof update.from !== 'string' || typeof update.allotment !== 'number') {
    throw new Rejection(422, 'validation_failed');
  }
  return { parkId: body.parkId, unitTypeId: update.unitTypeId, date: update.from, allotment: update.allotment };
}

async function main(): Promise<void> {
  const secret = process.env.FLOOR_SECRET ?? '';
  if (!secret.startsWith('whsec_')) throw new Error('FLOOR_SECRET must be a "whsec_<base64>" signing secret');
  const key = Buffer.from(secret.slice('whsec_'.length), 'base64');
  const port = Number(process.env.FLOOR_PORT ?? '0');
  const store = await openStore();

  const app = Fastify({ logger: false, bodyLimit: 256 * 1024 });
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));

  app.get('/ready', async () => ({ status: 'ready' }));

  app.post<{ Params: { channel: string } }>('/webhooks/channel/:channel/availability', async (request, reply) => {
    const raw = request.body as Buffer;
    const headers = request.headers;
    try {
      verifySignature(key, headers, raw);
      const idempotencyKey = header(headers, 'idempotency-key');
      const version = Number(header(headers, 'x-version'));
      if (!idempotencyKey || !Number.isSafeInteger(version) || version < 1) throw new Rejection(400, 'missing_header');
      const night = readUpdate(raw);
      const channel = request.params.channel;
      const eventId = randomUUID();
      const fingerprint = createHash('sha256').update(raw).digest('hex');
      await store.transaction(async (query) => {
        if ((await query(CLAIM_KEY, [channel, idempotencyKey, fingerprint])).rows.length === 0) throw new Rejection(409, 'idempotency_key_used');
        const upserted = await query(UPSERT_NIGHT, [night.parkId, night.unitTypeId, night.date, night.allotment, version]);
        if (upserted.rows.length === 0) throw new Rejection(409, 'stale_version');
        await query(INSERT_EVENT, [eventId, channel, night.parkId, idempotencyKey, version]);
        await query(MARK_OUTBOX, [night.parkId, 'other', night.unitTypeId, night.date]);
      });
      return reply.code(202).send({ eventId, status: 'applied' });
    } catch (error) {
      if (error instanceof Rejection) return reply.code(error.status).type('application/problem+json').send({ status: error.status, code: error.code });
      throw error;
    }
  });

  await app.listen({ host: '127.0.0.1', port });
  const shutdown = async () => {
    await app.close();
    await store.close();
    process.exit(0);
  };
  process.once('SIGTERM', () => void shutdown());
  process.once('SIGINT', () => void shutdown());
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
