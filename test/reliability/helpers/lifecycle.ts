import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach } from 'vitest';
import { createScratchDatabase, type ScratchDatabase } from '../../../scripts/bench/lib/scratch-db.ts';
import { startDeployment, type Deployment } from './deployment.ts';

/** The deployment of one test file, started before its tests and stopped after them. */
export interface ScratchDeployment {
  readonly deployment: Deployment;
}

/**
 * Registers hooks that start a deployment on a scratch database before the
 * file's tests and stop it after them. The process logs are deleted unless a
 * test failed, in which case their folder is printed.
 */
export function useScratchDeployment(name: string, options: { deliveryLeaseSeconds?: number } = {}): ScratchDeployment {
  let database: ScratchDatabase | undefined;
  let deployment: Deployment | undefined;
  let logDir: string | undefined;
  let keepLogs = false;

  beforeAll(async () => {
    logDir = await mkdtemp(path.join(tmpdir(), `parksync-${name}-`));
    database = await createScratchDatabase('parksync_reliability');
    deployment = await startDeployment({ databaseUrl: database.url, logDir, ...options });
  });

  beforeEach(({ onTestFailed }) => {
    onTestFailed(() => {
      keepLogs = true;
    });
  });

  afterAll(async () => {
    await deployment?.stop();
    await database?.drop();
    if (keepLogs) console.info(`process logs kept in ${logDir}`);
    else if (logDir) await rm(logDir, { recursive: true, force: true });
  });

  return {
    get deployment(): Deployment {
      if (!deployment) throw new Error('the deployment starts in beforeAll; use it inside a test');
      return deployment;
    },
  };
}
