/** `npm run simulate` against an API that is not there says so in one line, not a stack trace. */
import { execFile } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

/** A loopback port that nothing listens on: one the system just handed out and took back. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('npm run simulate', () => {
  it('says it cannot reach the API and exits 1 when nothing listens', async () => {
    const apiUrl = `http://127.0.0.1:${await freePort()}`;
    const run = promisify(execFile)('npx', ['tsx', 'agent/simulator/cli.ts', '--devices', '2', '--image', 'acme/app:1'], {
      cwd: join(import.meta.dirname, '../..'),
      env: { ...process.env, API_URL: apiUrl, ADMIN_API_KEY: 'fra_any-key-will-do-here-0000000000000' },
      timeout: 30_000,
    });
    const failure = await run.then(
      () => undefined,
      (error: { code?: number; stderr?: string }) => error,
    );
    expect(failure?.code).toBe(1);
    expect(failure?.stderr).toContain(`cannot reach the API at ${apiUrl} (is "npm start" running?)`);
    expect(failure?.stderr).toContain('ECONNREFUSED');
    expect(failure?.stderr).not.toMatch(/^\s+at /m);
  });
});
