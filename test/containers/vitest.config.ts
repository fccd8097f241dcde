import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

/**
 * `npm run test:containers`: real containers through the Docker Engine API that Podman serves
 * (needs root and Debian's podman, runc, docker-registry, busybox-static and openssl; `.ci/run` installs
 * them). Not part of `npm test`.
 */
export default defineConfig({
  root: fileURLToPath(new URL('../..', import.meta.url)),
  test: {
    include: ['test/containers/**/*.test.ts'],
    testTimeout: 2 * 60_000,
    hookTimeout: 2 * 60_000,
    pool: 'forks',
    // One engine per file; files one after another so they never race for loopback addresses.
    fileParallelism: false,
    env: {
      // As in vitest.config.ts: the embedded host's handlers log warnings and errors only.
      LOG_LEVEL: 'warn',
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      // As in vitest.config.ts: no Docker Hub look-ups, unless a test names a registry of its own.
      DOCKER_HUB_MANIFEST_API_URL: 'off',
      QUAY_MANIFEST_API_URL: 'off',
    },
  },
});
