/**
 * The CLI's command line, run in-process with its streams captured: what it refuses before
 * sending anything (exit code 2 and a message), and the pieces that turn flags and files into
 * requests. Nothing here reaches an API; test/e2e/cli.test.ts runs the CLI against one.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { labelPatch, parseApp, parseLabelFilter, registrationBody } from '../../cli/commands/devices';
import { keyState } from '../../cli/commands/provisioning-keys';
import { exitCodes, watchExitCode } from '../../cli/exit-codes';
import { parseBody } from '../../cli/input-file';
import { run } from '../../cli/program';
import { baseUrlOf, connection } from '../../cli/settings';

/** Nothing listens on port 9 (discard) here, and nothing below gets as far as connecting. */
const env = { FLEET_API_URL: 'http://127.0.0.1:9', FLEET_ADMIN_KEY: 'fra_test' };

async function fleet(argv: string[], environment: Record<string, string | undefined> = env) {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
  stderr.on('data', (chunk: Buffer) => (err += chunk.toString('utf8')));
  const code = await run(argv, { stdout, stderr, env: environment });
  return { code, stdout: out, stderr: err };
}

let dir: string;
beforeAll(async () => void (dir = await mkdtemp(join(tmpdir(), 'fleet-args-'))));
afterAll(async () => void (dir && (await rm(dir, { recursive: true, force: true }))));

describe('the command line', () => {
  it('lists the commands, the environment and the exit codes with --help, exit 0', async () => {
    const { code, stdout } = await fleet(['--help'], {});
    expect(code).toBe(0);
    for (const text of ['rollouts', 'policies', 'devices', 'provisioning-keys', 'FLEET_API_URL', 'FLEET_ADMIN_KEY', '4  rollouts watch: the rollout paused']) expect(stdout).toContain(text);
  });

  it('names both settings when neither is set, and sends nothing', async () => {
    const { code, stdout, stderr } = await fleet(['rollouts', 'list'], {});
    expect(code).toBe(exitCodes.usage);
    expect(stdout).toBe('');
    expect(stderr).toContain('FLEET_API_URL is not set (nor --api-url)');
    expect(stderr).toContain('FLEET_ADMIN_KEY is not set (nor --admin-key)');
  });

  it.each([
    [['rollouts', 'frobnicate'], /unknown command 'frobnicate'/],
    [['rollouts', 'pause'], /missing required argument 'id'/],
    [['rollouts', 'get', 'ro-1', 'ro-2'], /too many arguments/],
    [['rollouts', 'watch', 'ro-1', '--interval', '0'], /--interval.*must be a number of seconds from 0\.2 to 3600/],
    [['rollouts', 'list', '--status', 'done'], /Allowed choices are pending, in_progress/],
    [['rollouts', 'list', '--limit', '0'], /--limit.*must be a whole number from 1/],
    [['policies', 'create'], /required option '--file <path>' not specified/],
    [['devices', 'register', '--name', 'pi', '--app', 'acme/app:1'], /"acme\/app:1" is not name=image/],
    [['provisioning-keys', 'create', '--max-uses', 'many'], /--max-uses.*must be a whole number from 1/],
  ])('refuses %j with exit 2 and says why', async (argv, message) => {
    const { code, stderr } = await fleet(argv);
    expect(code).toBe(exitCodes.usage);
    expect(stderr).toMatch(message);
    expect(stderr).toMatch(/--help says more/);
  });

  it('shows a group\'s commands when none is given, as a usage error', async () => {
    const { code, stderr } = await fleet(['rollouts']);
    expect(code).toBe(exitCodes.usage);
    expect(stderr).toMatch(/rollback-device \[options\] <id> <uuid>/);
  });

  it('refuses a registration without an app, or one that mixes --file with flags', async () => {
    expect(await fleet(['devices', 'register', '--name', 'pi'])).toMatchObject({ code: 2, stderr: 'fleet: at least one --app name=image is required (or --file with the device)\n' });
    expect(await fleet(['devices', 'register', '--file', 'x.yaml', '--name', 'pi'])).toMatchObject({ code: 2, stderr: 'fleet: --file holds the whole device; leave out --name\n' });
  });

  it('says which file it cannot read', async () => {
    const missing = join(dir, 'nope.yaml');
    expect(await fleet(['policies', 'create', '--file', missing])).toMatchObject({ code: 2, stderr: `fleet: cannot read ${missing}: no such file\n` });
  });
});

describe('flags and files into requests', () => {
  it('collects repeated --app flags, keeping an image with a registry port whole', () => {
    expect(parseApp('db=postgres:16', parseApp('web=registry.lan:5000/acme/web:1.0'))).toEqual([
      { name: 'web', image: 'registry.lan:5000/acme/web:1.0' },
      { name: 'db', image: 'postgres:16' },
    ]);
    expect(() => parseApp('=acme/app:1')).toThrow(/is not name=image/);
    expect(() => parseApp('web=')).toThrow(/is not name=image/);
  });

  it('turns key=value and key- into a merge patch of labels, and --label into repeated filters', () => {
    expect(labelPatch(['ring=canary', 'site-', 'empty=', 'url=a=b'])).toEqual({ ring: 'canary', site: null, empty: '', url: 'a=b' });
    expect(JSON.stringify(labelPatch(['__proto__=x']))).toBe('{"__proto__":"x"}');
    expect(() => labelPatch([])).toThrow(/at least one key=value/);
    expect(() => labelPatch(['ring'])).toThrow(/"ring" is neither key=value nor key-/);
    expect(() => labelPatch(['-'])).toThrow(/neither/);
    expect(() => labelPatch(['ring=a', 'ring-'])).toThrow(/ring is given twice/);
    expect(parseLabelFilter('site:berlin', parseLabelFilter('ring:canary'))).toEqual(['ring:canary', 'site:berlin']);
    expect(() => parseLabelFilter('ring=canary')).toThrow(/is not key:value/);
  });

  it('refuses a label command without labels before sending anything', async () => {
    const run = await fleet(['devices', 'label', 'some-uuid']);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/labels/);
  });

  it('builds the registration from the flags, or reads it whole from a file', async () => {
    expect(await registrationBody({ name: 'pi', app: [{ name: 'main', image: 'acme/app:1' }], ip: '10.0.0.2' })).toEqual({
      name: 'pi',
      apps: [{ name: 'main', image: 'acme/app:1' }],
      ip_address: '10.0.0.2',
    });
    const file = join(dir, 'device.yaml');
    await writeFile(file, 'name: pi\napps:\n  - name: main\n    image: acme/app:1\n    container: { network_mode: host }\n');
    expect(await registrationBody({ file })).toEqual({ name: 'pi', apps: [{ name: 'main', image: 'acme/app:1', container: { network_mode: 'host' } }] });
  });

  it('reads YAML and JSON alike, and only an object', () => {
    expect(parseBody('image_pattern: "acme/*"\nbatch_percentages: [5, 100]\n', 'p.yaml')).toEqual({ image_pattern: 'acme/*', batch_percentages: [5, 100] });
    expect(parseBody('{"image_pattern":"acme/*","enabled":false}', 'p.json')).toEqual({ image_pattern: 'acme/*', enabled: false });
    expect(() => parseBody('- a\n- b\n', 'p.yaml')).toThrow('p.yaml must hold an object (a mapping), not a list');
    expect(() => parseBody('image_pattern: [unclosed', 'p.yaml')).toThrow(/^p\.yaml is neither JSON nor YAML/);
  });

  it('takes the API URL with or without /api/v1, flags before the environment', () => {
    expect(baseUrlOf('https://abc.execute-api.eu-west-1.amazonaws.com/prod/api/v1/')).toBe('https://abc.execute-api.eu-west-1.amazonaws.com/prod');
    expect(baseUrlOf('http://127.0.0.1:3001')).toBe('http://127.0.0.1:3001');
    expect(() => baseUrlOf('127.0.0.1:3001')).toThrow(/must be an http:\/\/ or https:\/\/ URL|is not a URL/);
    expect(() => baseUrlOf('not a url')).toThrow(/is not a URL/);
    expect(connection({ apiUrl: 'http://a:1', adminKey: 'k2' }, env)).toEqual({ baseUrl: 'http://a:1', adminKey: 'k2' });
    expect(connection({}, env)).toEqual({ baseUrl: 'http://127.0.0.1:9', adminKey: 'fra_test' });
  });
});

describe('what the exit code and the key state say', () => {
  it('maps how a watched rollout ended to an exit code', () => {
    expect(['completed', 'paused', 'failed', 'cancelled', 'rolled_back'].map(watchExitCode)).toEqual([0, 4, 5, 5, 5]);
  });

  it('tells a usable provisioning key from a revoked, expired or used-up one', () => {
    const now = Date.parse('2026-12-01T12:00:00Z');
    const key = { id: 'pvk_1', name: null, expires_at: null, max_uses: null, uses: 3, created_at: '2026-11-01T00:00:00Z', revoked_at: null };
    expect(keyState(key, now)).toBe('active');
    expect(keyState({ ...key, revoked_at: '2026-11-02T00:00:00Z' }, now)).toBe('revoked');
    expect(keyState({ ...key, expires_at: '2026-12-01T11:59:59Z' }, now)).toBe('expired');
    expect(keyState({ ...key, max_uses: 3 }, now)).toBe('used up');
    expect(keyState({ ...key, max_uses: 4, expires_at: '2027-01-01T00:00:00Z' }, now)).toBe('active');
  });
});
