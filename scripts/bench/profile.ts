import path from 'node:path';
import { loadConfig } from '../../src/config.ts';
import { startService } from '../../src/service.ts';
import { LoadClient } from './lib/load.ts';
import { startQueryCounter, type StatementStats } from './lib/query-counter.ts';
import { summarize, type LatencySummary } from './lib/stats.ts';
import type { AvailabilityWebhooks } from './lib/webhooks.ts';

/**
 * Profiles the webhook pipeline: parksync runs inside this process with
 * node-postgres counted (lib/query-counter.ts) and takes one webhook at a
 * time, so each request's statements and their time can be separated.
 */

export interface PipelineProfile {
  requests: number;
  roundTripsPerRequest: number;
  /** Time spent waiting for PostgreSQL per request, as the client measures it. */
  databaseMsPerRequest: number;
  latency: LatencySummary;
  floorLatency: LatencySummary;
  statements: Array<StatementStats & { perRequest: number; msPerRequest: number }>;
}

export interface ProfileOptions {
  databaseUrl: string;
  adminToken: string;
  workDir: string;
  requests: number;
  webhooks: AvailabilityWebhooks;
  floorUrl: string;
  floorWebhooks: AvailabilityWebhooks;
}

const WARM_UP_REQUESTS = 100;

async function sequential(client: LoadClient, webhooks: AvailabilityWebhooks, count: number): Promise<number[]> {
  const latencies: number[] = [];
  for (let index = 0; index < count; index += 1) {
    const outcome = await client.send(webhooks.next());
    if (outcome.status !== 202) throw new Error(`profile webhook returned ${outcome.status}, expected 202: ${outcome.body.slice(0, 300)}`);
    latencies.push(outcome.finishedAt - outcome.startedAt);
  }
  return latencies;
}

export async function profilePipeline(options: ProfileOptions): Promise<PipelineProfile> {
  const counter = startQueryCounter();
  const service = await startService(
    'serve',
    loadConfig({
      HOST: '127.0.0.1',
      PORT: '0',
      DATABASE_URL: options.databaseUrl,
      PARKSYNC_ADMIN_TOKEN: options.adminToken,
      PARKSYNC_DATA_DIR: path.join(options.workDir, 'profile-data'),
      LOG_LEVEL: 'warn',
    }),
  );
  const client = new LoadClient(service.url ?? '', 4);
  const floorClient = new LoadClient(options.floorUrl, 4);
  try {
    await sequential(client, options.webhooks, WARM_UP_REQUESTS);
    counter.reset();
    const latencies = await sequential(client, options.webhooks, options.requests);
    const queries = counter.totalQueries();
    const databaseMs = counter.totalMs();
    const statements = counter.statements().map((stats) => ({
      ...stats,
      perRequest: stats.count / options.requests,
      msPerRequest: stats.totalMs / options.requests,
    }));

    await sequential(floorClient, options.floorWebhooks, WARM_UP_REQUESTS);
    const floorLatencies = await sequential(floorClient, options.floorWebhooks, options.requests);
    return {
      requests: options.requests,
      roundTripsPerRequest: queries / options.requests,
      databaseMsPerRequest: databaseMs / options.requests,
      latency: summarize(latencies),
      floorLatency: summarize(floorLatencies),
      statements,
    };
  } finally {
    counter.stop();
    await client.close();
    await floorClient.close();
    await service.stop();
  }
}

