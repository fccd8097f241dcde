/**
 * `fleet`, the operator's CLI, as an operator runs it: the built `dist/fleet.mjs` (what package.json's
 * `bin` names) in a child process, configured by FLEET_API_URL and FLEET_ADMIN_KEY, against an
 * embedded host. A policy from a YAML file, devices registered by the CLI that then poll with the
 * tokens it printed, a push, and `rollouts watch` following rollouts to each kind of end, with the
 * exit code a script would branch on.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerFleet, SimulatedDevice, startPolling } from '../../agent/simulator/fleet';
import { startHost, type Host } from '../../infra/embedded/host';
import { flow } from '../support/flow';

const root = join(import.meta.dirname, '../..');
const bundle = join(root, 'dist', 'fleet.mjs');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

let host: Host;
let dir: string;
let steps: ReturnType<typeof flow>;
const stops: (() => Promise<void>)[] = [];

/** Runs `node dist/fleet.mjs …args` to its end; `env` replaces the connection variables; `input` is its standard input. */
function fleet(args: string[], env: Record<string, string | undefined> = {}, input?: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bundle, ...args], {
      cwd: root,
      env: { ...process.env, FLEET_API_URL: host.url, FLEET_ADMIN_KEY: host.adminApiKey, NO_COLOR: '1', ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    child.stdin.end(input ?? '');
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), 55_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** `fleet --json …`, its answer parsed; fails the test with the CLI's stderr when it did not exit 0. */
async function fleetJson(args: string[]): Promise<any> {
  const run = await fleet(['--json', ...args]);
  expect(run.code, run.stderr).toBe(0);
  return JSON.parse(run.stdout);
}

async function fleetOf(repository: string, size: number, behaviour: Parameters<typeof registerFleet>[0]['behaviour'] = undefined): Promise<SimulatedDevice[]> {
  return registerFleet({ apiUrl: host.url, adminKey: host.adminApiKey, size, image: `${repository}:1.0`, namePrefix: repository.split('/')[1]!, ...(behaviour ? { behaviour } : {}) });
}

async function pushed(repository: string, tag: string): Promise<string> {
  const accepted = await steps.push(repository, tag);
  expect(accepted.status).toBe(202);
  return accepted.body.rollouts[0].id;
}

beforeAll(async () => {
  await promisify(execFile)('npm', ['run', '--silent', 'build:cli'], { cwd: root });
  host = await startHost({ port: 0, dataDir: ':memory:', tickSeconds: 1, quiet: true });
  steps = flow(host);
  dir = await mkdtemp(join(tmpdir(), 'fleet-cli-'));
});

afterAll(async () => {
  for (const stop of stops) await stop();
  await host?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

// Each run of the CLI is a new Node.js process; on a busy machine a test of several takes a while.
describe('fleet, the CLI', { timeout: 180_000 }, () => {
  it('creates a policy from YAML, registers devices whose tokens work, and watches their rollout complete (exit 0)', async () => {
    const file = join(dir, 'web.yaml');
    await writeFile(
      file,
      ['# every push of acme/web, in two batches', 'name: web', 'image_pattern: "acme/web:*"', 'batch_percentages: [50, 100]', 'batch_delay_minutes: 0', 'update_timeout_minutes: 2', ''].join('\n'),
    );
    const created = await fleet(['policies', 'create', '--file', file]);
    expect(created.code, created.stderr).toBe(0);
    const policyId = /created policy (pol_\w+)/.exec(created.stdout)?.[1];
    expect(policyId).toBeDefined();
    expect(created.stdout).toMatch(/pattern: +acme\/web:\*/);
    const { policy } = await fleetJson(['policies', 'get', policyId!]);
    expect(policy).toMatchObject({ id: policyId, name: 'web', image_pattern: 'acme/web:*', batch_percentages: [50, 100], batch_delay_minutes: 0 });

    // Two devices registered through the CLI, two more through the API: all four poll.
    const registered: SimulatedDevice[] = [];
    for (const n of [1, 2]) {
      const body = await fleetJson(['devices', 'register', '--name', `cli-${n}`, '--app', 'main=acme/web:1.0', '--ip', `127.0.2.${n}`]);
      expect(body.device).toMatchObject({ name: `cli-${n}`, ip_address: `127.0.2.${n}`, target_apps: [{ name: 'main', image: 'acme/web:1.0' }] });
      registered.push(new SimulatedDevice({ apiUrl: host.url, uuid: body.device.uuid, token: body.device_token, apps: [{ name: 'main', image: 'acme/web:1.0' }], ipAddress: `127.0.2.${n}` }));
    }
    const devices = [...registered, ...(await fleetOf('acme/web', 2))];
    stops.push(startPolling(devices, 200));

    const listed = await fleet(['devices', 'list']);
    expect(listed.code).toBe(0);
    expect(listed.stdout.split('\n')[0]).toMatch(/^UUID +NAME +STATUS +IP +TARGET +IN SYNC +REPORTED +LABELS$/);
    expect(listed.stdout).toMatch(new RegExp(`${registered[0]!.uuid}  cli-1 +online +127\\.0\\.2\\.1  main=acme/web:1\\.0`));

    const rolloutId = await pushed('acme/web', '1.1');
    const watched = await fleet(['rollouts', 'watch', rolloutId, '--interval', '0.3']);
    expect(watched.stderr).toBe('');
    expect(watched.code).toBe(0);
    // Not a terminal: plain lines, no escapes.
    expect(watched.stdout).not.toMatch(/\x1b\[/);
    expect(watched.stdout).toContain(`rollout ${rolloutId}  acme/web:1.1`);
    expect(watched.stdout).toMatch(/batch 1 started with 2 devices/);
    expect(watched.stdout).toMatch(/batch 2  █{20}  2\/2  updated 2  · done/);
    expect(watched.stdout).toMatch(new RegExp(`rollout ${rolloutId} completed \\(updated 4\\)\\n$`));
    // The devices the CLI registered took the new image with the tokens it printed.
    for (const device of registered) expect(device.running[0]!.image).toBe('acme/web:1.1');

    const table = await fleet(['rollouts', 'list', '--image', 'acme/web']);
    expect(table.stdout).toMatch(new RegExp(`^${rolloutId}  acme/web:1\\.1  completed +2/2 +4 +100% +0%`, 'm'));
  });

  it('labels a device and lists the devices with a label', async () => {
    const [device, other] = await fleetOf('acme/labelled', 2);
    const labelled = await fleet(['devices', 'label', device!.uuid, 'ring=canary', 'site=berlin']);
    expect(labelled.code, labelled.stderr).toBe(0);
    expect(labelled.stdout).toBe(`device ${device!.uuid} (labelled-1) labels: ring=canary,site=berlin\n`);
    expect((await fleet(['devices', 'label', device!.uuid, 'site-'])).stdout).toMatch(/labels: ring=canary\n$/);
    await fleetJson(['devices', 'label', other!.uuid, 'ring=beta']);

    const canaries = await fleet(['devices', 'list', '--label', 'ring:canary']);
    expect(canaries.code, canaries.stderr).toBe(0);
    expect(canaries.stdout).toMatch(new RegExp(`^${device!.uuid}  labelled-1 .* ring=canary$`, 'm'));
    expect(canaries.stdout).not.toContain(other!.uuid);
    const listed = await fleetJson(['devices', 'list', '--label', 'ring:beta']);
    expect(listed.devices.map((d: any) => d.uuid)).toEqual([other!.uuid]);
    expect((await fleet(['devices', 'get', device!.uuid])).stdout).toMatch(/^labels: +ring=canary$/m);

    const refused = await fleet(['devices', 'label', device!.uuid, 'Bad!=x']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/labels\.Bad! is not a label key/);
  });

  it('exits 4 when the rollout pauses itself on failures, and 5 once it is rolled back', async () => {
    await steps.createPolicy({ image_pattern: 'acme/bad:*', batch_percentages: [50, 100], batch_delay_minutes: 0, update_timeout_minutes: 2, max_failure_rate: 0.2 });
    // Every device fails to start the new image and says so.
    stops.push(startPolling(await fleetOf('acme/bad', 4, () => ({ failUpdate: true })), 200));
    const rolloutId = await pushed('acme/bad', '2.0');

    const watched = await fleet(['rollouts', 'watch', rolloutId, '--interval', '0.3']);
    expect(watched.code, watched.stderr).toBe(4);
    expect(watched.stdout).toMatch(/failed: main on acme\/bad:2\.0 did not stay up: failed to start acme\/bad:2\.0/);
    expect(watched.stdout).toMatch(/rollout paused: failure rate 100\.0% exceeds the policy's maximum of 20\.0%/);
    expect(watched.stdout).toMatch(new RegExp(`rollout ${rolloutId} paused: failure rate`));

    const rolledBack = await fleet(['rollouts', 'rollback-all', rolloutId, '--reason', 'bad release']);
    expect(rolledBack.code, rolledBack.stderr).toBe(0);
    expect(rolledBack.stdout).toMatch(new RegExp(`^rollout ${rolloutId} rolled back: \\d+ devices rolled back, 0 failed`));
    const after = await fleet(['rollouts', 'watch', rolloutId]);
    expect(after.code).toBe(5);
    expect(after.stdout).toMatch(new RegExp(`rollout ${rolloutId} rolled back: bad release`));
  });

  it('exits 4 when another invocation pauses the rollout it watches; resume and cancel steer it', async () => {
    await steps.createPolicy({ image_pattern: 'acme/idle:*', batch_delay_minutes: 0, update_timeout_minutes: 10 });
    // These devices never poll: the rollout waits on its first batch until someone steps in.
    await fleetOf('acme/idle', 3);
    const rolloutId = await pushed('acme/idle', '2.0');
    await steps.waitForStatus(rolloutId, 'in_progress');

    const watching = fleet(['rollouts', 'watch', rolloutId, '--interval', '0.3']);
    const paused = await fleet(['rollouts', 'pause', rolloutId, '--reason', 'checking metrics']);
    expect(paused.code, paused.stderr).toBe(0);
    expect(paused.stdout).toBe(`rollout ${rolloutId} is paused\n`);
    const watched = await watching;
    expect(watched.code, watched.stderr).toBe(4);
    expect(watched.stdout).toMatch(/rollout paused: checking metrics/);

    const resumed = await fleetJson(['rollouts', 'resume', rolloutId]);
    expect(resumed.rollout).toMatchObject({ id: rolloutId, status: 'in_progress' });
    const cancelled = await fleet(['rollouts', 'cancel', rolloutId, '--reason', 'not today']);
    expect(cancelled.code, cancelled.stderr).toBe(0);
    const after = await fleet(['rollouts', 'watch', rolloutId]);
    expect(after.code).toBe(5);
    expect(after.stdout).toMatch(new RegExp(`rollout ${rolloutId} cancelled: not today`));
  });

  it('prints the API\'s JSON for scripts and follows next_cursor, or stops at --limit', async () => {
    const all = await fleetJson(['rollouts', 'list']);
    expect(all.next_cursor).toBeNull();
    expect(all.rollouts.length).toBeGreaterThanOrEqual(3);
    expect(all.rollouts[0]).toMatchObject({ id: expect.stringMatching(/^ro-/), status: expect.any(String), statistics: expect.any(Object), batches: expect.any(Array) });

    const first = await fleetJson(['rollouts', 'list', '--limit', '1']);
    // By id: a cancelled rollout's ending sweep may still be re-requested between the two reads.
    expect(first.rollouts.map((r: any) => r.id)).toEqual([all.rollouts[0].id]);
    expect(first.next_cursor).toEqual(expect.any(String));
    const rest = await fleetJson(['rollouts', 'list', '--cursor', first.next_cursor]);
    expect(rest.rollouts.map((r: any) => r.id)).toEqual(all.rollouts.slice(1).map((r: any) => r.id));

    const completed = await fleetJson(['rollouts', 'list', '--status', 'completed']);
    expect(completed.rollouts.map((r: any) => r.image)).toEqual(['acme/web:1.1']);
  });

  it('creates, lists and revokes provisioning keys', async () => {
    const created = await fleetJson(['provisioning-keys', 'create', '--name', 'kitchen', '--max-uses', '2']);
    expect(created.key).toMatch(/^fpk_/);
    const id = created.provisioning_key.id;
    const revoked = await fleet(['provisioning-keys', 'revoke', id]);
    expect(revoked.stdout).toBe(`revoked provisioning key ${id}\n`);
    const listed = await fleet(['provisioning-keys', 'list']);
    expect(listed.stdout).toMatch(new RegExp(`^${id}  kitchen  revoked +0/2  never`, 'm'));
  });

  it('creates, lists and revokes admin keys; a key it made works as FLEET_ADMIN_KEY until it is revoked', async () => {
    const created = await fleet(['admin-keys', 'create', 'ops@example.com']);
    expect(created.code, created.stderr).toBe(0);
    const [, id, key] = /^created admin key (ak_\w+) \(ops@example\.com\)\nkey \(shown this once; its holder uses it as FLEET_ADMIN_KEY\): (fra_\S+)\n$/.exec(created.stdout) ?? [];
    expect(id, created.stdout).toBeDefined();

    // The new key steers the fleet, and what it makes says who made it.
    const { admin_key: made } = await fleetJson(['--admin-key', key!, 'admin-keys', 'create', 'ci deploy']);
    expect(made.created_by).toEqual({ key_id: id, name: 'ops@example.com' });
    const listed = await fleet(['admin-keys', 'list']);
    expect(listed.stdout.split('\n')[0]).toMatch(/^ID +NAME +STATE +CREATED +BY +REVOKED$/);
    expect(listed.stdout).toMatch(new RegExp(`^${made.id}  ci deploy +active +[\\d-]+ [\\d:]+  ops@example\\.com +-$`, 'm'));
    expect(listed.stdout).not.toContain(key!);

    const revoked = await fleet(['admin-keys', 'revoke', id!]);
    expect(revoked).toMatchObject({ code: 0, stdout: `revoked admin key ${id}\n` });
    const refused = await fleet(['policies', 'list'], { FLEET_ADMIN_KEY: key });
    expect(refused).toMatchObject({ code: 1, stderr: 'fleet: invalid credentials (401 unauthorized)\n' });
    expect((await fleet(['admin-keys', 'list'])).stdout).toMatch(new RegExp(`^${id}  ops@example\\.com +revoked .* by host$`, 'm'));

    const duplicate = await fleet(['admin-keys', 'create', 'CI deploy']);
    expect(duplicate.code).toBe(1);
    expect(duplicate.stderr).toMatch(new RegExp(`an admin key named "ci deploy" exists: ${made.id}.*\\(409 conflict\\)\\n$`));
  });

  it('creates, lists, shows, rotates and deletes registries; the secret it prints is the one the webhook takes', async () => {
    const created = await fleet(['registries', 'create', 'cli-lab', '--kind', 'docker-hub', '--alias', 'localhost:5000=registry.lan:5000', '--rate-limit', '30']);
    expect(created.code, created.stderr).toBe(0);
    const secret = /^secret \(shown this once; configure it in the registry\): (frw_\S+)$/m.exec(created.stdout)?.[1];
    expect(secret, created.stdout).toBeDefined();
    expect(created.stdout).toContain(`Docker Hub webhook URL: ${host.url}/api/v1/webhooks/cli-lab?token=${secret}`);
    expect(created.stdout).toMatch(/^host aliases: +localhost:5000→registry\.lan:5000$/m);

    const listed = await fleet(['registries', 'list']);
    expect(listed.stdout.split('\n')[0]).toMatch(/^NAME +KIND +SOURCE +WEBHOOK URL +LIMIT\/MIN +HOST ALIASES$/);
    expect(listed.stdout).toMatch(new RegExp(`^cli-lab +docker-hub +configured +${host.url}/api/v1/webhooks/cli-lab +30 +localhost:5000→registry\\.lan:5000$`, 'm'));
    expect(listed.stdout).toMatch(/^docker-registry +docker-hub +default /m);
    const shown = await fleet(['registries', 'show', 'cli-lab']);
    expect(shown.stdout).toMatch(/^secret: +its own, kept as a SHA-256$/m);
    for (const run of [listed, shown]) expect(run.stdout).not.toContain(secret!);

    const hook = (token: string) => steps.api('POST', `/api/v1/webhooks/cli-lab?token=${encodeURIComponent(token)}`, { token: null, body: { push_data: { tag: 'v1' }, repository: { repo_name: 'acme/cli-lab' } } });
    expect((await hook(secret!)).status).toBe(202);
    const rotated = await fleetJson(['registries', 'rotate-secret', 'cli-lab']);
    expect(rotated.secret).toMatch(/^frw_/);
    expect((await hook(secret!)).status).toBe(401);
    expect((await hook(rotated.secret)).status).toBe(202);

    const ecr = await fleet(['registries', 'create', 'cli-ecr', '--kind', 'ecr', '--host', '123456789012.dkr.ecr.eu-west-1.amazonaws.com']);
    expect(ecr.stdout).toMatch(/^webhook url: +none: ECR pushes arrive through the EventBridge rule$/m);
    expect(ecr.stdout).not.toContain('secret (shown');

    expect(await fleet(['registries', 'delete', 'cli-lab'])).toMatchObject({ code: 0, stdout: 'deleted registry cli-lab\n' });
    expect((await hook(rotated.secret)).status).toBe(404);
    const again = await fleet(['registries', 'show', 'cli-lab']);
    expect(again).toMatchObject({ code: 1, stderr: 'fleet: registry cli-lab not found (404 not_found)\n' });
    const bad = await fleet(['registries', 'create', 'cli-bad', '--kind', 'docker-hub', '--alias', 'localhost:5000']);
    expect(bad.code).toBe(2);
  });

  it("gives a registry pull credentials with the password on standard input, shows only the username, and takes them away", async () => {
    const password = 'pull-token-from-stdin-7c1e';
    const created = await fleet(['registries', 'create', 'cli-quay', '--kind', 'quay', '--registry-api', 'https://quay.example.com', '--pull-username', 'robot+ci', '--pull-password-stdin'], {}, `${password}\n`);
    expect(created.code, created.stderr).toBe(0);
    expect(created.stdout).toMatch(/^digest look-up: +https:\/\/quay\.example\.com$/m);
    expect(created.stdout).toMatch(/^pull credentials: +robot\+ci \(password kept in the secret store\)$/m);
    const shown = await fleetJson(['registries', 'show', 'cli-quay']);
    expect(shown.registry).toMatchObject({ api_url: 'https://quay.example.com', pull_credentials: { username: 'robot+ci' } });
    expect(JSON.stringify(shown)).not.toContain(password);

    const updated = await fleet(['registries', 'update', 'cli-quay', '--no-pull-credentials', '--no-registry-api', '--rate-limit', '20']);
    expect(updated.code, updated.stderr).toBe(0);
    expect(updated.stdout).toMatch(/^pull credentials: +none \(anonymous\)$/m);
    expect(updated.stdout).toMatch(/^rate limit: +20 deliveries a minute$/m);

    const noPassword = await fleet(['registries', 'update', 'cli-quay', '--pull-username', 'robot+ci']);
    expect(noPassword).toMatchObject({ code: 2, stderr: expect.stringContaining('--pull-username and --pull-password-stdin go together') });
    const nothing = await fleet(['registries', 'update', 'cli-quay']);
    expect(nothing).toMatchObject({ code: 2, stderr: expect.stringContaining('nothing to change') });
    const wrongKind = await fleet(['registries', 'create', 'cli-ghcr', '--kind', 'ghcr', '--pull-username', 'u', '--pull-password-stdin'], {}, 'p\n');
    expect(wrongKind).toMatchObject({ code: 1, stderr: expect.stringContaining('pull_credentials: a registry of kind ghcr names the digest of each push itself') });
  });

  it("deletes a device and rotates a device's token", async () => {
    const first = await fleetJson(['devices', 'register', '--name', 'cli-doomed', '--app', 'main=acme/cli-doomed:1.0']);
    const deleted = await fleet(['devices', 'delete', first.device.uuid]);
    expect(deleted).toMatchObject({ code: 0, stdout: `deleted device ${first.device.uuid}\n` });
    expect((await steps.api('GET', `/api/v1/devices/${first.device.uuid}/state`, { token: first.device_token })).status).toBe(401);
    const again = await fleet(['devices', 'delete', first.device.uuid]);
    expect(again).toMatchObject({ code: 1, stderr: `fleet: device ${first.device.uuid} not found (404 not_found)\n` });

    const second = await fleetJson(['devices', 'register', '--name', 'cli-rotated', '--app', 'main=acme/cli-rotated:1.0']);
    const rotated = await fleet(['devices', 'rotate-token', second.device.uuid]);
    expect(rotated.code, rotated.stderr).toBe(0);
    const token = /device token \(shown this once; give it to the device as FLEET_DEVICE_TOKEN\): (dt_\S+)\n$/.exec(rotated.stdout)?.[1];
    expect(rotated.stdout).toMatch(new RegExp(`^rotated the token of device ${second.device.uuid}; the old one no longer works\n`));
    expect((await steps.api('GET', `/api/v1/devices/${second.device.uuid}/state`, { token: second.device_token })).status).toBe(401);
    expect((await steps.api('GET', `/api/v1/devices/${second.device.uuid}/state`, { token })).status).toBe(200);
    const json = await fleetJson(['devices', 'rotate-token', second.device.uuid]);
    expect(json).toEqual({ device_uuid: second.device.uuid, token: expect.stringMatching(/^dt_/) });
  });

  it('says what the API refused and exits 1', async () => {
    const missing = await fleet(['rollouts', 'get', 'ro-nothing-here']);
    expect(missing).toMatchObject({ code: 1, stdout: '', stderr: 'fleet: rollout ro-nothing-here not found (404 not_found)\n' });

    const file = join(dir, 'bad.json');
    await writeFile(file, JSON.stringify({ image_pattern: 'acme/x:*', max_failure_rate: 3 }));
    const invalid = await fleet(['policies', 'create', '--file', file]);
    expect(invalid.code).toBe(1);
    expect(invalid.stderr).toMatch(/^fleet: max_failure_rate .*\(400 invalid_request\)\n$/);

    const completed = (await fleetJson(['rollouts', 'list', '--status', 'completed'])).rollouts[0].id;
    const conflict = await fleet(['rollouts', 'resume', completed]);
    expect(conflict.code).toBe(1);
    expect(conflict.stderr).toMatch(/\(409 \w+\)\n$/);
  });

  it('refuses to run without FLEET_ADMIN_KEY (exit 2), and says when the API cannot be reached (exit 3)', async () => {
    // Through `npm run cli` (tsx), as from a checkout.
    const unset = await new Promise<Run>((resolve) => {
      execFile('npm', ['run', '--silent', 'cli', '--', 'rollouts', 'list'], { cwd: root, env: { ...process.env, FLEET_API_URL: host.url, FLEET_ADMIN_KEY: '' } }, (error, stdout, stderr) =>
        resolve({ code: error ? (error.code as number) : 0, stdout, stderr }),
      );
    });
    expect(unset.code).toBe(2);
    expect(unset.stderr).toContain('FLEET_ADMIN_KEY is not set (nor --admin-key)');
    expect(unset.stdout).toBe('');

    // A flag stands in for the variable.
    const flagged = await fleet(['--admin-key', host.adminApiKey, 'policies', 'list'], { FLEET_ADMIN_KEY: undefined });
    expect(flagged.code, flagged.stderr).toBe(0);

    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    await new Promise((resolve) => server.close(resolve));
    const down = await fleet(['policies', 'list'], { FLEET_API_URL: `http://127.0.0.1:${port}/api/v1` });
    expect(down.code).toBe(3);
    expect(down.stderr).toMatch(new RegExp(`^fleet: cannot reach the API at http://127\\.0\\.0\\.1:${port}: .*ECONNREFUSED`));
  });
});
