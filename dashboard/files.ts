/**
 * The dashboard's files, for the function that serves them (functions/dashboard.ts): read from
 * the `static-assets/` folder beside the running module where synthesis put it (the Lambda
 * asset), else built from the sources of this checkout (the embedded host).
 */
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { contentTypeOf, type DashboardFile } from './content-types';

/** The folder synthesis writes beside the bundle (the manifest's `staticAssets`, run by infra/cdk/stack.ts). */
const assetFolder = 'static-assets';

export async function dashboardFiles(): Promise<DashboardFile[]> {
  const built = fileURLToPath(new URL(`./${assetFolder}/`, import.meta.url));
  if (existsSync(built)) {
    const names = await readdir(built);
    return Promise.all(names.map(async (name) => ({ name, contentType: contentTypeOf(name), body: await readFile(`${built}${name}`) })));
  }
  // A URL rather than a literal: a bundler must not pull esbuild into the function's bundle.
  const builder = new URL('./build.ts', import.meta.url).href;
  const { buildDashboard } = (await import(builder)) as typeof import('./build');
  return buildDashboard();
}
