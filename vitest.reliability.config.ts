import { defineConfig } from 'vitest/config';

/**
 * The reliability suite (`npm run test:reliability`): real parksync processes
 * killed and restarted under load, and a private PostgreSQL server stopped and
 * started under load. It needs the PostgreSQL server on 127.0.0.1:5432 and,
 * for the database restart, root to run PostgreSQL as the postgres user.
 * Files run one after another, because each one loads the machine.
 */
export default defineConfig({
  test: {
    include: ['test/reliability/**/*.test.ts'],
    testTimeout: 300_000,
    hookTimeout: 180_000,
    pool: 'forks',
    fileParallelism: false,
  },
});
