import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loggerOptions } from '../src/observability/logger.ts';
import { startService, type RunningService } from '../src/service.ts';
import { testConfig } from './helpers/harness.ts';

describe('service on the embedded database', () => {
  let dataDir: string;
  let service: RunningService;

  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'parksync-service-'));
    service = await startService('all', testConfig({ dataDir, adminToken: undefined, port: 0 }));
  });

  afterAll(async () => {
    await service.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('writes a first admin token file readable only by its owner', async () => {
    const file = path.join(dataDir, 'admin-token');
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    const token = (await readFile(file, 'utf8')).trim();
    const response = await fetch(`${service.url}/parks`, { headers: { authorization: `Bearer ${token}` } });
    expect(response.status).toBe(200);
  });

  it('reports ready once migrations are applied', async () => {
    const response = await fetch(`${service.url}/readyz`);
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ status: 'ready', database: 'pglite' });
  });

  it('serves the OpenAPI document with the admin paths', async () => {
    const document = (await (await fetch(`${service.url}/openapi.json`)).json()) as { paths: Record<string, unknown> };
    expect(Object.keys(document.paths)).toEqual(
      expect.arrayContaining(['/parks', '/parks/{parkId}', '/parks/{parkId}/channels/{channel}', '/webhooks/channel/{channel}/{kind}']),
    );
    expect((await fetch(`${service.url}/docs/`)).status).toBe(200);
  });

  it('exposes Prometheus metrics', async () => {
    const text = await (await fetch(`${service.url}/metrics`)).text();
    expect(text).toContain('parksync_process_cpu_seconds_total');
  });

  it('holds the maintenance lease only until it stops', async () => {
    const { runMaintenance } = await import('../src/worker/maintenance.ts');
    await runMaintenance(service.ctx);
    const held = await service.ctx.db.selectFrom('worker_leases').selectAll().execute();
    expect(held.map((lease) => lease.owner)).toEqual([service.ctx.config.instanceId]);
  });
});

describe('graceful stop', () => {
  it('releases the worker leases and closes the database', async () => {
    const dataDir = await mkdtemp(path.join(tmpdir(), 'parksync-stop-'));
    const first = await startService('work', testConfig({ dataDir, port: 0 }));
    const { runMaintenance } = await import('../src/worker/maintenance.ts');
    await runMaintenance(first.ctx);
    await first.stop();
    const second = await startService('work', testConfig({ dataDir, port: 0, instanceId: 'second' }));
    const leases = await second.ctx.db.selectFrom('worker_leases').selectAll().execute();
    expect(leases).toEqual([]);
    await second.stop();
    await rm(dataDir, { recursive: true, force: true });
  });
});

describe('logger redaction', () => {
  it('censors secrets, tokens and guest data', () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _encoding, done) {
        lines.push(String(chunk));
        done();
      },
    });
    const logger = pino(loggerOptions('info'), sink);
    logger.info(
      {
        req: { headers: { authorization: 'Bearer pst_topsecret', 'x-signature': 'v1=abc123' } },
        connection: { secret: 'whsec_hidden', secret_current: 'whsec_hidden2' },
        reservation: { guest: { name: 'Ada Lovelace' } },
      },
      'request',
    );
    const output = lines.join('');
    for (const leaked of ['pst_topsecret', 'v1=abc123', 'whsec_hidden', 'Ada Lovelace']) {
      expect(output).not.toContain(leaked);
    }
    expect(output).toContain('[redacted]');
  });
});

describe('worker metrics port', () => {
  it('serves /metrics from a work process when PARKSYNC_METRICS_PORT is set', async () => {
    const dataDir = await mkdtemp(path.join(tmpdir(), 'parksync-metrics-'));
    const net = await import('node:net');
    const port = await new Promise<number>((resolve) => {
      const probe = net.createServer().listen(0, '127.0.0.1', () => {
        const chosen = (probe.address() as { port: number }).port;
        probe.close(() => resolve(chosen));
      });
    });
    const worker = await startService('work', testConfig({ dataDir, port: 0, metricsPort: port }));
    try {
      const response = await fetch(`http://127.0.0.1:${port}/metrics`);
      expect(response.status).toBe(200);
      expect(await response.text()).toContain('parksync_process_cpu_seconds_total');
      expect((await fetch(`http://127.0.0.1:${port}/other`)).status).toBe(404);
    } finally {
      await worker.stop();
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
