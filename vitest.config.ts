import { configDefaults, defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Needs a running LocalStack with the stack deployed: `npm run test:localstack`; real containers: `npm run test:containers`;
    // Chromium: `npm run test:browser`.
    exclude: [...configDefaults.exclude, 'test/localstack/**', 'test/containers/**', 'test/browser/**'],
    // Integration and e2e tests start emulators and wait for queues and ticks.
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // Each test file in its own process: the embedded host sets process.env and allows one host per process.
    pool: 'forks',
    server: {
      deps: {
        // The Lambda bundles synthesis writes (test/infra/bundles.test.ts) load as Node loads them
        // on Lambda, untouched by Vite's transforms and resolver.
        external: [/\/asset\.[0-9a-f]{64}\/index\.mjs$/],
      },
    },
    env: {
      // Handlers log warnings and errors only, so a failing test's output shows what matters.
      LOG_LEVEL: 'warn',
      // Lambdas run on nodejs22.x; only the build machines' Node.js 20 would trigger this notice.
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      // No test reaches Docker Hub: an embedded host looks up no Docker Hub digest unless the
      // test points it at a registry of its own (test/containers/digest-resolution.test.ts).
      DOCKER_HUB_MANIFEST_API_URL: 'off',
      QUAY_MANIFEST_API_URL: 'off',
    },
  },
});
