/**
 * What the target state carries besides images (issue #8): each app's container settings, set at
 * registration or by `PUT /devices/{uuid}/apps/{app}`, kept through rollouts; and the poll hint,
 * short while the device is in a batch under way, long otherwise. Through real HTTP on the
 * embedded host, with a real rollout.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHost, type Host } from '../../infra/embedded/host';
import { expectError, waitFor } from '../support/api';
import { flow } from '../support/flow';

let host: Host;
let steps: ReturnType<typeof flow>;
let api: ReturnType<typeof flow>['api'];

beforeAll(async () => {
  host = await startHost({ port: 0, dataDir: ':memory:', tickSeconds: 1, quiet: true });
  steps = flow(host);
  api = steps.api;
});

afterAll(async () => {
  await host?.stop();
});


const settings = {
  command: ['httpd', '-f', '-p', '8080'],
  env: { MODE: 'edge', _LEVEL2: 'x' },
  network_mode: 'bridge',
  ports: ['8080:80/tcp', '127.0.0.1:5353:53/udp', '[::1]:9000:9000', '443:443'],
  volumes: ['data:/data', '/var/log/app:/logs:ro'],
  restart_policy: 'unless-stopped',
};

async function register(apps: unknown[], uuid = `ts-${randomUUID()}`) {
  const registered = await api('POST', '/api/v1/devices', { body: { uuid, name: uuid, apps } });
  expect(registered.status, JSON.stringify(registered.body)).toBe(201);
  return { uuid, token: registered.body.device_token as string, device: registered.body.device };
}

const state = (device: { uuid: string; token: string }, etag?: string) =>
  api('GET', `/api/v1/devices/${device.uuid}/state`, { token: device.token, ...(etag ? { headers: { 'if-none-match': etag } } : {}) });

const putContainer = (uuid: string, app: string, body: unknown) => api('PUT', `/api/v1/devices/${uuid}/apps/${app}`, { body });

const badSettings: [string, unknown, string][] = [
  ['a port without a container port', { ports: ['8080'] }, 'container.ports[0]'],
  ['a port above 65535', { ports: ['70000:80'] }, 'container.ports[0]'],
  ['a port range', { ports: ['8000-8010:80'] }, 'container.ports[0]'],
  ['a port of protocol sctp', { ports: ['80:80/sctp'] }, 'container.ports[0]'],
  ['a port on a bad IP', { ports: ['300.1.1.1:80:80'] }, 'container.ports[0]'],
  ['a volume on a relative path', { volumes: ['data:data'] }, 'container.volumes[0]'],
  ['a volume mode rw', { volumes: ['data:/data:rw'] }, 'container.volumes[0]'],
  ['a volume climbing out with ..', { volumes: ['/srv/../etc:/etc'] }, 'container.volumes[0]'],
  ['an env name with a dash', { env: { 'MY-VAR': '1' } }, 'container.env'],
  ['an env name starting with a digit', { env: { '1VAR': '1' } }, 'container.env'],
  ['an env value that is a number', { env: { VAR: 1 } }, 'container.env.VAR'],
  ['a network mode "none"', { network_mode: 'none' }, 'container.network_mode'],
  ['a restart policy "sometimes"', { restart_policy: 'sometimes' }, 'container.restart_policy'],
  ['a command that is a string', { command: 'httpd -f' }, 'container.command'],
  ['an empty command', { command: [] }, 'container.command'],
  ['too many ports', { ports: Array.from({ length: 65 }, (_, i) => `${1000 + i}:80`) }, 'container.ports'],
  ['an env value too long', { env: { VAR: 'x'.repeat(5000) } }, 'container.env.VAR'],
  ['an unknown setting', { privileged: true }, 'container.privileged'],
];

describe('container settings', () => {
  it('are kept from registration and served with the target state', async () => {
    const device = await register([
      { name: 'web', image: 'iotistic/ts-web:v1', container: settings },
      { name: 'plain', image: 'iotistic/ts-plain:v1' },
    ]);
    expect(device.device.target_apps).toEqual([{ name: 'web', image: 'iotistic/ts-web:v1', container: settings }, { name: 'plain', image: 'iotistic/ts-plain:v1' }]);
    const polled = await state(device);
    expect(polled.status).toBe(200);
    expect(polled.body.apps).toEqual(device.device.target_apps);
  });

  it.each(badSettings)('refuses %s (400 naming it) at registration and on PUT, writing nothing', async (_, container, mention) => {
    const uuid = `ts-bad-${randomUUID()}`;
    expectError(await api('POST', '/api/v1/devices', { body: { uuid, name: 'bad', apps: [{ name: 'app', image: 'iotistic/ts:v1', container }] } }), 400, `apps[0].${mention}`);
    expectError(await api('GET', `/api/v1/devices/${uuid}`), 404, uuid);
    const device = await register([{ name: 'app', image: 'iotistic/ts:v1' }]);
    const before = await api('GET', `/api/v1/devices/${device.uuid}`);
    expectError(await putContainer(device.uuid, 'app', { container }), 400, mention);
    expect((await api('GET', `/api/v1/devices/${device.uuid}`)).body).toEqual(before.body);
  });

  it('are set, changed and dropped with PUT, each change moving the ETag, a repeat not', async () => {
    const device = await register([{ name: 'app', image: 'iotistic/ts-put:v1' }, { name: 'other', image: 'iotistic/ts-other:v1', container: { restart_policy: 'always' } }]);
    const first = await state(device);
    const etag1 = first.headers.get('etag')!;

    const set = await putContainer(device.uuid, 'app', { container: settings });
    expect(set.status).toBe(200);
    expect(set.body.device.target_apps).toEqual([{ name: 'app', image: 'iotistic/ts-put:v1', container: settings }, { name: 'other', image: 'iotistic/ts-other:v1', container: { restart_policy: 'always' } }]);
    const second = await state(device, etag1);
    expect(second.status).toBe(200);
    expect(second.body.apps[0].container).toEqual(settings);
    const etag2 = second.headers.get('etag')!;
    expect(etag2).not.toBe(etag1);

    // The same settings again (keys in another order) change nothing.
    const reordered = Object.fromEntries(Object.entries(settings).reverse());
    expect((await putContainer(device.uuid, 'app', { container: reordered })).status).toBe(200);
    expect((await state(device, etag2)).status).toBe(304);

    const changed = await putContainer(device.uuid, 'app', { container: { ...settings, env: { MODE: 'lab' } } });
    expect(changed.body.device.target_apps[0].container.env).toEqual({ MODE: 'lab' });
    const third = await state(device, etag2);
    expect(third.status).toBe(200);
    const etag3 = third.headers.get('etag')!;

    const dropped = await putContainer(device.uuid, 'app', { container: null });
    expect(dropped.status).toBe(200);
    expect(dropped.body.device.target_apps[0]).toEqual({ name: 'app', image: 'iotistic/ts-put:v1' });
    const fourth = await state(device, etag3);
    expect(fourth.status).toBe(200);
    expect(fourth.body.apps[0]).toEqual({ name: 'app', image: 'iotistic/ts-put:v1' });
    expect(fourth.body.apps[1].container).toEqual({ restart_policy: 'always' });
  });

  it('answers 404 for an unknown device or app, 400 for a body without container, writing nothing', async () => {
    const device = await register([{ name: 'app', image: 'iotistic/ts-404:v1' }]);
    const before = await api('GET', `/api/v1/devices/${device.uuid}`);
    expectError(await putContainer('no-such-device', 'app', { container: settings }), 404, 'no-such-device');
    expectError(await putContainer(device.uuid, 'nope', { container: settings }), 404, '"nope"');
    expectError(await putContainer(device.uuid, 'app', {}), 400, 'container');
    expectError(await putContainer(device.uuid, 'app', { container: settings, image: 'iotistic/other:v9' }), 400, 'image');
    expectError(await api('PUT', `/api/v1/devices/${device.uuid}/apps/app`, { token: device.token, body: { container: settings } }), 403, 'device token');
    expect((await api('GET', `/api/v1/devices/${device.uuid}`)).body).toEqual(before.body);
  });
});

describe('a rollout, the container settings and the poll hint', () => {
  it('moves only the image, keeps the settings, and has the device poll soon while its batch is under way and a while after its report', async () => {
    const repository = `iotistic/ts-rollout-${randomUUID().slice(0, 8)}`;
    const device = await register([{ name: 'app', image: `${repository}:v1`, container: settings }]);

    // No rollout: the long interval, in the body and, on a 304 that has none, in a header.
    const idle = await state(device);
    expect(idle.body.poll_interval_seconds).toBe(300);
    expect(idle.headers.get('x-poll-interval-seconds')).toBe('300');
    expect(idle.headers.get('cache-control')).toBe('no-store');
    const idleEtag = idle.headers.get('etag')!;
    const idle304 = await state(device, idleEtag);
    expect(idle304.status).toBe(304);
    expect(idle304.headers.get('x-poll-interval-seconds')).toBe('300');
    expect((await api('PATCH', `/api/v1/devices/${device.uuid}/state`, { token: device.token, body: { apps: [{ name: 'app', image: `${repository}:v1`, status: 'running' }] } })).status).toBe(200);

    await steps.createPolicy({ image_pattern: `${repository}:*`, batch_percentages: [100], batch_delay_minutes: 0, update_timeout_minutes: 5 });
    const pushed = await steps.push(repository, 'v2');
    expect(pushed.status).toBe(202);
    const rolloutId = pushed.body.rollouts[0].id;

    const scheduled = await waitFor(async () => {
      const polled = await state(device);
      return polled.body.apps[0].image === `${repository}:v2` ? polled : undefined;
    }, 30_000, 'the device to get the new target');
    expect(scheduled.body.apps).toEqual([{ name: 'app', image: `${repository}:v2`, container: settings }]);
    expect(scheduled.body.poll_interval_seconds).toBe(15);
    const activeEtag = scheduled.headers.get('etag')!;
    const active304 = await state(device, activeEtag);
    expect(active304.status).toBe(304);
    expect(active304.headers.get('x-poll-interval-seconds')).toBe('15');

    const reported = await api('PATCH', `/api/v1/devices/${device.uuid}/state`, {
      token: device.token,
      body: { apps: [{ name: 'app', image: `${repository}:v2`, status: 'running' }], target_version: scheduled.body.version },
    });
    expect(reported.status).toBe(200);
    await steps.waitForStatus(rolloutId, 'completed');

    // Its batch is done, but a verdict (and a rollback) could still come: the short interval stays
    // for one long interval after the report, then the long one, with the same target, on a 304 too.
    const checked = await state(device, activeEtag);
    expect(checked.status).toBe(304);
    expect(checked.headers.get('x-poll-interval-seconds')).toBe('15');
    host.clock.advance(280_000);
    expect((await state(device, activeEtag)).headers.get('x-poll-interval-seconds')).toBe('15');
    host.clock.advance(25_000);
    const done = await state(device, activeEtag);
    expect(done.status).toBe(304);
    expect(done.headers.get('x-poll-interval-seconds')).toBe('300');
    const after = await state(device);
    expect(after.body).toMatchObject({ apps: [{ name: 'app', image: `${repository}:v2`, container: settings }], poll_interval_seconds: 300 });
  });
});
