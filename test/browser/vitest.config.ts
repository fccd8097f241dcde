import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

/**
 * `npm run test:browser`: the dashboard in Debian's Chromium (/usr/bin/chromium, driven by
 * playwright-core), against an embedded host and a simulated fleet. Not part of `npm test`.
 */
export default defineConfig({
  root: fileURLToPath(new URL('../..', import.meta.url)),
  test: {
    include: ['test/browser/**/*.test.ts'],
    testTimeout: 2 * 60_000,
    hookTimeout: 2 * 60_000,
    pool: 'forks',
    env: {
      // As in vitest.config.ts: the embedded host's handlers log warnings and errors only.
      LOG_LEVEL: 'warn',
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      // As in vitest.config.ts: no Docker Hub look-ups.
      DOCKER_HUB_MANIFEST_API_URL: 'off',
      QUAY_MANIFEST_API_URL: 'off',
    },
  },
});
