/**
 * Builds the dashboard's page: the Preact app bundled by esbuild into one script and one style
 * sheet, each named by a hash of its content so a browser may keep it for good, and the HTML page
 * that loads them. Both hosts serve this one build: the embedded host builds it when the
 * dashboard function loads (dashboard/files.ts), synthesis writes it into the function's asset
 * (`tsx dashboard/build.ts <dir>`, run by infra/cdk/stack.ts).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { contentTypeOf, type DashboardFile } from './content-types';

const entry = fileURLToPath(new URL('./app/main.tsx', import.meta.url));

/** The page. Its script and style sheet are relative to `/dashboard`, so a stage prefix (`/prod`) is kept. */
function page(script: string, style: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>fleet-rollout dashboard</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="dashboard/${style}">
<script type="module" src="dashboard/${script}"></script>
</head>
<body>
<div id="app"><noscript>The dashboard needs JavaScript.</noscript></div>
</body>
</html>
`;
}

export async function buildDashboard(): Promise<DashboardFile[]> {
  const result = await build({
    entryPoints: [entry],
    bundle: true,
    write: false,
    outdir: 'out',
    entryNames: '[name]-[hash]',
    format: 'esm',
    target: 'es2022',
    platform: 'browser',
    minify: true,
    jsx: 'automatic',
    jsxImportSource: 'preact',
    legalComments: 'none',
    logLevel: 'silent',
  });
  const files = result.outputFiles.map((file) => ({ name: basename(file.path), contentType: contentTypeOf(file.path), body: file.contents }));
  const script = files.find((file) => file.name.endsWith('.js'));
  const style = files.find((file) => file.name.endsWith('.css'));
  if (!script || !style) throw new Error('the dashboard build made no script or no style sheet');
  const html = { name: 'index.html', contentType: contentTypeOf('index.html'), body: new TextEncoder().encode(page(script.name, style.name)) };
  return [html, ...files];
}

/** Writes the build into `dir` (synthesis puts it beside the function's bundle). */
export async function writeDashboard(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (const file of await buildDashboard()) await writeFile(join(dir, file.name), file.body);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const dir = process.argv[2];
  if (!dir) {
    console.error('usage: tsx dashboard/build.ts <output directory>');
    process.exit(2);
  }
  await writeDashboard(dir);
}
