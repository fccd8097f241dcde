import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

/**
 * `npm run test:localstack`: the end-to-end scenario against the stack deployed to LocalStack
 * (`npm run localstack:deploy`). Not part of `npm test`; skips, saying so, when LocalStack is not running.
 */
export default defineConfig({
  root: fileURLToPath(new URL('../..', import.meta.url)),
  test: {
    include: ['test/localstack/**/*.test.ts'],
    // Cold starts pull runtime images and start a container per function.
    testTimeout: 10 * 60_000,
    hookTimeout: 5 * 60_000,
    pool: 'forks',
    env: {
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    },
  },
});
