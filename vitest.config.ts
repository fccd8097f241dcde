import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // Integration and e2e tests start emulators and wait for queues and ticks.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Each test file in its own process: the embedded host sets process.env and allows one host per process.
    pool: 'forks',
  },
});
