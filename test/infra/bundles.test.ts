/**
 * The deployed artifacts are the tested artifacts: synthesis bundles every function with esbuild
 * (no Docker), and the embedded host then runs those bundles, not the TypeScript sources,
 * through a staged rollout on a simulated fleet.
 *
 * The bundles sit in a temporary directory with no node_modules above it, so a module esbuild
 * failed to include could not be found there, as it could not on Lambda.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { functions } from '../../infra/manifest';
import { startHost, type Host } from '../../infra/embedded/host';
import { runStagedRollout } from './rollout-scenario';
import { synthesise, type Synthesised } from './synth';

let synthesised: Synthesised;
let bundles: Record<string, string>;

beforeAll(async () => {
  synthesised = await synthesise({ bundle: true });
  const resources = synthesised.template.toJSON().Resources as Record<string, { Properties: { Code: { S3Key: string } } }>;
  bundles = Object.fromEntries(
    Object.entries(synthesised.stack.functions).map(([name, fn]) => {
      // The code asset's key is `<hash>.zip`, staged in the assembly as `asset.<hash>/`.
      const key = resources[synthesised.logicalId(fn)]!.Properties.Code.S3Key;
      return [name, join(synthesised.outdir, `asset.${key.replace(/\.zip$/, '')}`, 'index.mjs')];
    }),
  );
}, 180_000);

afterAll(async () => {
  await synthesised?.remove();
});

describe('the bundles synthesis writes', () => {
  it('exist for every function of the manifest, as self-contained ES modules', async () => {
    expect(Object.keys(bundles).sort()).toEqual(Object.keys(functions).sort());
    for (const [name, file] of Object.entries(bundles)) {
      expect(existsSync(file), `${name}: ${file}`).toBe(true);
      expect(existsSync(`${file}.map`), `${name}: source map`).toBe(true);
      const code = await readFile(file, 'utf8');
      // The banner that lets bundled CommonJS code call require() in an ES module.
      expect(code.startsWith("import { createRequire } from 'module'"), name).toBe(true);
    }
  });

  describe('run on the embedded host', () => {
    let host: Host;

    beforeAll(async () => {
      host = await startHost({ port: 0, dataDir: ':memory:', tickSeconds: 1, quiet: true, functionsFrom: bundles });
    });

    afterAll(async () => {
      await host?.stop();
    });

    it("serve the dashboard that synthesis built into the dashboard function's asset", async () => {
      const page = await fetch(`${host.url}/dashboard`);
      expect(page.status).toBe(200);
      const script = /src="dashboard\/([^"]+\.js)"/.exec(await page.text())?.[1];
      expect(script).toBeDefined();
      const bundle = await fetch(`${host.url}/dashboard/${script}`);
      expect(bundle.status).toBe(200);
      expect(bundle.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
      expect((await bundle.text()).length).toBeGreaterThan(1000);
    });

    it('carry a staged rollout to completed with every device on the new image', async () => {
      await runStagedRollout(
        { url: host.url, adminKey: host.adminApiKey, webhookSecret: host.webhookSecret },
        { devices: 8, pollIntervalMs: 100, timeoutMs: 30_000, checkIntervalMs: 100, everyPollAnswered: true },
      );
    });
  });
});
