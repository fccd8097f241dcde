import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, defaultRouteAddress, loadConfig, parseLabels, resolveCredentials } from '../../agent/config';

const base = { FLEET_API_URL: 'http://fleet.test', FLEET_DEVICE_UUID: 'dev-1', FLEET_DEVICE_TOKEN: 'tok', FLEET_DEVICE_IP: '10.0.0.5' };
const noRoute = () => undefined;

function variableOf(env: NodeJS.ProcessEnv): string | undefined {
  try {
    loadConfig(env, noRoute);
    return undefined;
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message.startsWith(`${(error as ConfigError).variable}:`)).toBe(true);
    return (error as ConfigError).variable;
  }
}

describe('agent config', () => {
  it('reads a complete environment, with defaults for the state dir and the engine', () => {
    expect(loadConfig(base, noRoute)).toEqual({
      apiUrl: 'http://fleet.test',
      credentials: { kind: 'token', uuid: 'dev-1', token: 'tok' },
      stateDir: '/var/lib/fleet-agent',
      dockerHost: 'unix:///var/run/docker.sock',
      ipAddress: '10.0.0.5',
      labels: {},
    });
  });

  it('reads FLEET_LABELS as key=value pairs', () => {
    expect(loadConfig({ ...base, FLEET_LABELS: ' ring=canary, site=berlin,empty=,app.example.com/tier=1 ' }, noRoute).labels).toEqual({
      ring: 'canary',
      site: 'berlin',
      empty: '',
      'app.example.com/tier': '1',
    });
    expect(parseLabels('')).toEqual({});
  });

  it.each([
    ['FLEET_API_URL', { ...base, FLEET_API_URL: undefined }],
    ['FLEET_API_URL', { ...base, FLEET_API_URL: 'not a url' }],
    ['FLEET_API_URL', { ...base, FLEET_API_URL: 'ftp://x' }],
    ['FLEET_DEVICE_UUID', { ...base, FLEET_DEVICE_UUID: undefined }],
    ['FLEET_DEVICE_UUID', { ...base, FLEET_DEVICE_UUID: 'no spaces allowed' }],
    ['FLEET_DEVICE_TOKEN', { ...base, FLEET_DEVICE_TOKEN: undefined }],
    ['FLEET_DEVICE_TOKEN', { FLEET_API_URL: 'http://fleet.test' }],
    ['FLEET_DEVICE_NAME', { FLEET_API_URL: 'http://fleet.test', FLEET_PROVISIONING_KEY: 'pk' }],
    ['FLEET_STATE_DIR', { ...base, FLEET_STATE_DIR: 'relative/dir' }],
    ['DOCKER_HOST', { ...base, DOCKER_HOST: '/var/run/docker.sock' }],
    ['FLEET_DEVICE_IP', { ...base, FLEET_DEVICE_IP: 'localhost' }],
    ['FLEET_LABELS', { ...base, FLEET_LABELS: 'ring' }],
    ['FLEET_LABELS', { ...base, FLEET_LABELS: 'Ring!=x' }],
    ['FLEET_LABELS', { ...base, FLEET_LABELS: 'ring=-x' }],
    ['FLEET_LABELS', { ...base, FLEET_LABELS: 'ring=a,ring=b' }],
    ['FLEET_LABELS', { ...base, FLEET_LABELS: Array.from({ length: 33 }, (_, i) => `k${i}=v`).join(',') }],
  ])('names %s when it is bad or missing', (variable, env) => {
    expect(variableOf(env as NodeJS.ProcessEnv)).toBe(variable);
  });

  it('finds the address of the default route interface', () => {
    const table = 'Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\n' + 'eth0\t0000A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\n' + 'wlan0\t00000000\t0100A8C0\t0003\t0\t0\t0\t00000000\n';
    const interfaces = { wlan0: [{ address: '192.168.0.23', family: 'IPv4', internal: false }] } as any;
    expect(defaultRouteAddress(table, interfaces)).toBe('192.168.0.23');
    expect(defaultRouteAddress(undefined, interfaces)).toBeUndefined();
  });
});

describe('provisioning', () => {
  async function server(answer: (body: any) => [number, unknown]) {
    const seen: any[] = [];
    const s = createServer((req, res) => {
      let text = '';
      req.on('data', (c) => (text += c)).on('end', () => {
        const body = JSON.parse(text);
        seen.push({ auth: req.headers.authorization, url: req.url, body });
        const [status, out] = answer(body);
        res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(out));
      });
    });
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
    return { url: `http://127.0.0.1:${(s.address() as AddressInfo).port}`, seen, close: () => new Promise((r) => s.close(r)) };
  }

  it('provisions once with the apps the device runs, saves the token, and a restart reuses it', async () => {
    const api = await server((body) => [201, { device: { uuid: body.uuid }, device_token: 'issued-token' }]);
    const stateDir = mkdtempSync(join(tmpdir(), 'agent-'));
    const config = loadConfig({ FLEET_API_URL: api.url, FLEET_PROVISIONING_KEY: 'pk', FLEET_DEVICE_NAME: 'pi-1', FLEET_STATE_DIR: stateDir, FLEET_DEVICE_IP: '10.0.0.1' });
    let asked = 0;
    const running = async () => {
      asked++;
      return [{ name: 'web', image: 'acme/web:1' }];
    };
    const first = await resolveCredentials(config, undefined, running);
    expect(first.token).toBe('issued-token');
    expect(readFileSync(join(stateDir, 'device-token'), 'utf8')).toBe('issued-token');
    expect(api.seen).toEqual([{ auth: 'Bearer pk', url: '/api/v1/devices/provision', body: { name: 'pi-1', uuid: first.uuid, apps: [{ name: 'web', image: 'acme/web:1' }] } }]);
    expect(await resolveCredentials(config, undefined, running)).toEqual(first);
    expect(api.seen).toHaveLength(1);
    // The engine is asked what runs only when provisioning.
    expect(asked).toBe(1);
    await api.close();
  });

  it('registers the labels of FLEET_LABELS when it provisions itself', async () => {
    const api = await server((body) => [201, { device: { uuid: body.uuid }, device_token: 'issued-token' }]);
    const stateDir = mkdtempSync(join(tmpdir(), 'agent-'));
    const config = loadConfig({ FLEET_API_URL: api.url, FLEET_PROVISIONING_KEY: 'pk', FLEET_DEVICE_NAME: 'pi-3', FLEET_STATE_DIR: stateDir, FLEET_DEVICE_IP: '10.0.0.1', FLEET_LABELS: 'ring=canary' });
    await resolveCredentials(config, undefined, async () => [{ name: 'web', image: 'acme/web:1' }]);
    expect(api.seen[0].body.labels).toEqual({ ring: 'canary' });
    await api.close();
  });

  it('stops with a clear error, asking nothing of the server, when the device runs no labelled app to register', async () => {
    const api = await server((body) => [201, { device: { uuid: body.uuid }, device_token: 'issued-token' }]);
    const stateDir = mkdtempSync(join(tmpdir(), 'agent-'));
    const config = loadConfig({ FLEET_API_URL: api.url, FLEET_PROVISIONING_KEY: 'pk', FLEET_DEVICE_NAME: 'pi-2', FLEET_STATE_DIR: stateDir, FLEET_DEVICE_IP: '10.0.0.1' });
    await expect(resolveCredentials(config)).rejects.toThrow(/FLEET_PROVISIONING_KEY: no container on this device is labelled io\.fleet-rollout\.app=<name>/);
    expect(api.seen).toEqual([]);
    await api.close();
  });

  it('stops with a clear error when the device is already registered and no token is saved', async () => {
    const api = await server(() => [409, { error: { code: 'conflict', message: 'already registered' } }]);
    const stateDir = mkdtempSync(join(tmpdir(), 'agent-'));
    writeFileSync(join(stateDir, 'device-uuid'), 'dev-9');
    const config = loadConfig({ FLEET_API_URL: api.url, FLEET_PROVISIONING_KEY: 'pk', FLEET_DEVICE_NAME: 'pi-9', FLEET_STATE_DIR: stateDir, FLEET_DEVICE_IP: '10.0.0.1' });
    await expect(resolveCredentials(config, undefined, async () => [{ name: 'web', image: 'acme/web:1' }])).rejects.toThrow(/device dev-9 is already registered.*device-token holds no token/);
    await api.close();
  });
});
