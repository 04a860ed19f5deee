import { randomBytes } from 'node:crypto';
import { AdminApi } from './admin.ts';
import { startServiceProcess, stopAll, type ChildHandle } from './processes.ts';
import { createScratchDatabase, type ScratchDatabase } from './scratch-db.ts';
import { startBenchSimulator, type BenchSimulator } from './simulator.ts';

/**
 * A running parksync for one benchmark item: a scratch database, a `serve`
 * process, optionally a `work` process, and the channel simulator inside this
 * process. stop() stops all of it and drops the database.
 */
export interface Stack {
  database: ScratchDatabase;
  serve: ChildHandle;
  work: ChildHandle | undefined;
  api: AdminApi;
  simulator: BenchSimulator;
  adminToken: string;
  /** Starts another `work` process on the same database, stopped with the stack. */
  startWorker(name: string): Promise<ChildHandle>;
  stop(): Promise<void>;
}

export async function startStack(options: { name: string; workDir: string; worker: boolean; deliveryLeaseSeconds?: number }): Promise<Stack> {
  const adminToken = randomBytes(24).toString('hex');
  const database = await createScratchDatabase();
  const handles: ChildHandle[] = [];
  let simulator: BenchSimulator | undefined;
  const stop = async () => {
    await stopAll(handles);
    await simulator?.close();
    await database.drop();
  };
  try {
    simulator = await startBenchSimulator();
    const common = { databaseUrl: database.url, adminToken, logDir: options.workDir, ...(options.deliveryLeaseSeconds ? { deliveryLeaseSeconds: options.deliveryLeaseSeconds } : {}) };
    const serve = await startServiceProcess({ ...common, name: `${options.name}-serve`, role: 'serve' });
    handles.push(serve);
    const startWorker = async (name: string) => {
      const worker = await startServiceProcess({ ...common, name, role: 'work' });
      handles.push(worker);
      return worker;
    };
    const work = options.worker ? await startWorker(`${options.name}-work`) : undefined;
    return { database, serve, work, api: new AdminApi(serve.url ?? '', adminToken), simulator, adminToken, startWorker, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
