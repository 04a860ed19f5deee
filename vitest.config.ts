import { configDefaults, defineConfig, type TestProjectConfiguration } from 'vitest/config';

/**
 * Every test file runs on the embedded PGlite database. When DATABASE_URL is
 * set, the suite runs a second time against that PostgreSQL server, each file
 * on its own database cloned from a migrated template.
 */
const projects: TestProjectConfiguration[] = [
  {
    extends: true as const,
    test: { name: 'pglite', env: { PARKSYNC_TEST_DB: 'pglite' } },
  },
  ...(process.env.DATABASE_URL
    ? [
        {
          extends: true as const,
          test: {
            name: 'postgres',
            env: { PARKSYNC_TEST_DB: 'postgres' },
            globalSetup: ['test/helpers/postgres-template.ts'],
          },
        },
      ]
    : []),
];

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The reliability suite kills processes and restarts a database, so it runs on its own with `npm run test:reliability`.
    exclude: [...configDefaults.exclude, 'test/reliability/**'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    projects,
  },
});
