import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Files share one FerretDB and one Redis but never a database or a queue prefix.
    fileParallelism: true,
    maxWorkers: 2,
    pool: 'forks',
  },
});
