import { defineConfig } from 'vitest/config';

/**
 * The reliability suite (`npm run test:reliability`): real parksync processes
 * killed and restarted under load, and a private PostgreSQL server stopped and
 * started under load. It needs the PostgreSQL server on 127.0.0.1:5432 and,
 * for the database restart, root to run PostgreSQL as the postgres user.
 * Files run one after another, because each one loads the machine.
 *
 * `npm test` runs it after the main suite when DATABASE_URL is set, as CI
 * does. Without DATABASE_URL, as on a machine with only the embedded
 * database, it runs nothing. `npm run test:reliability` always runs it.
 */
const enabled = process.env.DATABASE_URL !== undefined || process.env.npm_lifecycle_event === 'test:reliability';

export default defineConfig({
  test: {
    include: enabled ? ['test/reliability/**/*.test.ts'] : [],
    passWithNoTests: !enabled,
    testTimeout: 300_000,
    hookTimeout: 180_000,
    pool: 'forks',
    fileParallelism: false,
  },
});
