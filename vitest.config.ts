import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Integration and e2e tests start emulators and wait for queues and ticks.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Each test file in its own process: the embedded host sets process.env and allows one host per process.
    pool: 'forks',
    env: {
      // Handlers log warnings and errors only, so a failing test's output shows what matters.
      LOG_LEVEL: 'warn',
      // Lambdas run on nodejs22.x; only the build machines' Node.js 20 would trigger this notice.
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    },
  },
});
