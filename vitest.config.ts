import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    globalSetup: ['test/support/global-setup.ts'],
    include: ['**/*.test.ts'],
    exclude: ['node_modules/**', 'data/**'],
    testTimeout: 60_000,
    // expect.poll waits 1 s by default: too short for a browser page on a loaded 2-core CI box.
    // A generous bound, as for every stall in these tests; a real failure still fails, later.
    expect: { poll: { timeout: 15_000 } },
    hookTimeout: 120_000,
    pool: 'forks',
  },
});
