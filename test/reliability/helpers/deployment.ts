import { randomBytes } from 'node:crypto';
import { AdminApi, createPark, nightsFromTomorrow, unitTypeIds } from '../../../scripts/bench/lib/admin.ts';
import { freePort, startServiceProcess, stopAll, type ChildHandle } from '../../../scripts/bench/lib/processes.ts';
import { startBenchSimulator, type BenchSimulator } from '../../../scripts/bench/lib/simulator.ts';
import { AvailabilityWebhooks } from '../../../scripts/bench/lib/webhooks.ts';

/**
 * parksync as the reliability tests run it: a `serve` process on a fixed
 * port (so a restarted one listens at the same URL), a `work` process, and
 * the channel simulator in the test process. One park has three connections:
 * `booking` sends webhooks, `hipcamp` and `pitchup` receive deliveries.
 */

export const PARK = 'reliability-park';
export const SENDER = 'booking';
export const RECEIVERS = ['hipcamp', 'pitchup'] as const;
const UNIT_TYPES = 20;
const NIGHTS = 300;

export interface Deployment {
  databaseUrl: string;
  url: string;
  serve: ChildHandle;
  work: ChildHandle;
  simulator: BenchSimulator;
  api: AdminApi;
  webhooks: AvailabilityWebhooks;
  /** Starts a new `serve` process on the same port and database, after the old one exited. */
  restartServe(): Promise<ChildHandle>;
  /** Starts a new `work` process, after the old one exited. */
  restartWork(): Promise<ChildHandle>;
  stop(): Promise<void>;
}

export async function startDeployment(options: { databaseUrl: string; logDir: string; deliveryLeaseSeconds?: number }): Promise<Deployment> {
  const adminToken = randomBytes(24).toString('hex');
  const port = await freePort();
  const handles: ChildHandle[] = [];
  const simulator = await startBenchSimulator();
  const common = {
    databaseUrl: options.databaseUrl,
    adminToken,
    logDir: options.logDir,
    ...(options.deliveryLeaseSeconds ? { deliveryLeaseSeconds: options.deliveryLeaseSeconds } : {}),
  };
  let serves = 0;
  const startServe = async () => {
    serves += 1;
    const serve = await startServiceProcess({ ...common, name: `serve-${serves}`, role: 'serve', port, logLevel: 'info' });
    handles.push(serve);
    return serve;
  };
  let works = 0;
  const startWork = async () => {
    works += 1;
    const work = await startServiceProcess({ ...common, name: `work-${works}`, role: 'work' });
    handles.push(work);
    return work;
  };
  try {
    const serve = await startServe();
    const work = await startWork();
    const api = new AdminApi(`http://127.0.0.1:${port}`, adminToken);
    const secrets = await createPark(api, PARK, UNIT_TYPES, [
      { channel: SENDER, webhooksOn: true },
      ...RECEIVERS.map((channel) => ({ channel, simulator: simulator.simulator })),
    ]);
    const webhooks = new AvailabilityWebhooks({ channel: SENDER, parkId: PARK, secret: secrets[SENDER] ?? '', unitTypeIds: unitTypeIds(UNIT_TYPES), nights: nightsFromTomorrow(NIGHTS) });
    const deployment: Deployment = {
      databaseUrl: options.databaseUrl,
      url: `http://127.0.0.1:${port}`,
      serve,
      work,
      simulator,
      api,
      webhooks,
      async restartServe() {
        deployment.serve = await startServe();
        return deployment.serve;
      },
      async restartWork() {
        deployment.work = await startWork();
        return deployment.work;
      },
      async stop() {
        await stopAll(handles);
        await simulator.close();
      },
    };
    return deployment;
  } catch (error) {
    await stopAll(handles);
    await simulator.close();
    throw error;
  }
}
