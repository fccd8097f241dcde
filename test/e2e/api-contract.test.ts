/**
 * The API's contract at its edge, through real HTTP on the embedded host (DESIGN §6.6, §6.7, §7):
 * no route answers without the right credential, bad input gets a 4xx JSON error naming the
 * problem and writes nothing, and nothing a client sends gets a 5xx.
 *
 * The admin and device route lists come from the manifest, so a new route is held to the same
 * contract without touching this file (or fails here, asking for an id to put in its path).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHost, type Host } from '../../infra/embedded/host';
import { functions, type Route } from '../../infra/manifest';
import { apiClient, type ApiResult, expectError } from '../support/api';

type Api = ReturnType<typeof apiClient>;

let host: Host;
let api: Api;
/** Every response of the file, checked for 5xx at the end. */
const answered: { request: string; status: number }[] = [];

beforeAll(async () => {
  host = await startHost({ port: 0, dataDir: ':memory:', tickSeconds: 1, quiet: true });
  const client = apiClient(host.url, host.adminApiKey);
  api = async (method, path, options) => {
    const result = await client(method, path, options);
    answered.push({ request: `${method} ${path.length > 120 ? `${path.slice(0, 120)}…` : path}`, status: result.status });
    return result;
  };
});

afterAll(async () => {
  try {
    expect(answered.length).toBeGreaterThan(0);
    expect(answered.filter((a) => a.status >= 500), 'requests answered with a 5xx').toEqual([]);
  } finally {
    await host?.stop();
  }
});

// --- helpers ---------------------------------------------------------------------------------

/** Every route by the rule it declares, so a new route is covered the day it is declared. */
const allRoutes: readonly Route[] = Object.values(functions).flatMap((spec) => ('routes' in spec ? (spec.routes as readonly Route[]) : []));
const adminRoutes = allRoutes.filter((route) => route.auth === 'admin');
const deviceRoutes = allRoutes.filter((route) => route.auth === 'device');
const routeKey = (route: Route) => `${route.method} ${route.path}`;

/** Puts real ids into a route's `{param}`s; a route with a parameter we have no id for fails loudly. */
function fill(path: string, ids: Record<string, string>): string {
  return path.replace(/\{(\w+)\}/g, (_, name: string) => {
    const id = ids[name];
    if (id === undefined) throw new Error(`no id for {${name}} in ${path}: give the contract test one`);
    return encodeURIComponent(id);
  });
}


async function allPages(path: string, key: string): Promise<any[]> {
  const items: any[] = [];
  let cursor: string | null = null;
  do {
    const page: ApiResult = await api('GET', `${path}?limit=200${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
    expect(page.status).toBe(200);
    items.push(...page.body[key]);
    cursor = page.body.next_cursor;
  } while (cursor);
  return items;
}

/** What the admin API lists. Rollouts by id: the ones pushed here are planned in the background. */
async function everything() {
  return {
    policies: await allPages('/api/v1/policies', 'policies'),
    devices: await allPages('/api/v1/devices', 'devices'),
    rollouts: (await allPages('/api/v1/rollouts', 'rollouts')).map((r) => r.id as string).sort(),
  };
}

async function expectNothingWritten(act: () => Promise<void>): Promise<void> {
  const before = await everything();
  await act();
  expect(await everything()).toEqual(before);
}

interface RegisteredDevice {
  uuid: string;
  token: string;
}

async function registerDevice(name: string, uuid?: string): Promise<RegisteredDevice> {
  const { status, body } = await api('POST', '/api/v1/devices', {
    body: { ...(uuid ? { uuid } : {}), name, apps: [{ name: 'app', image: 'iotistic/contract-app:v1' }] },
  });
  expect(status).toBe(201);
  return { uuid: body.device.uuid, token: body.device_token };
}

async function adminDevice(uuid: string) {
  const { status, body } = await api('GET', `/api/v1/devices/${uuid}`);
  expect(status).toBe(200);
  return body.device;
}

/** A token of the right shape for `uuid` that was never issued. */
const forgedToken = (uuid: string) => `dt_${uuid}.${randomBytes(32).toString('base64url')}`;

const report = (status = 'running') => ({ apps: [{ name: 'app', image: 'iotistic/contract-app:v1', status }] });

/** The repository the webhook tests push; only the policy made for them matches it. */
const hookRepository = 'iotistic/contract-hook';

const dockerHubPush = (tag: string, repository = hookRepository) => ({
  push_data: { tag, pushed_at: Math.floor(Date.now() / 1000), pusher: 'ci' },
  repository: { repo_name: repository },
});

const distributionPush = (tag: string) => ({
  events: [
    {
      id: randomUUID(),
      timestamp: new Date().toISOString(),
      action: 'push',
      target: {
        mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
        repository: hookRepository,
        tag,
        digest: `sha256:${randomBytes(32).toString('hex')}`,
      },
    },
  ],
});

const withSecret = (secret: string) => `/api/v1/webhooks/docker-registry?token=${encodeURIComponent(secret)}`;

/** A policy for `repository` whose rollouts wait for an admin to start them. */
async function manualPolicy(repository: string): Promise<string> {
  const { status, body } = await api('POST', '/api/v1/policies', {
    body: { name: `contract ${repository}`, image_pattern: `${repository}:*`, update_strategy: 'manual' },
  });
  expect(status).toBe(201);
  return body.policy.id;
}

/** A rollout made the way a registry makes one. */
async function pushedRollout(repository: string, tag: string): Promise<string> {
  const { status, body } = await api('POST', withSecret(host.webhookSecret), { token: null, body: dockerHubPush(tag, repository) });
  expect(status).toBe(202);
  expect(body.rollouts).toHaveLength(1);
  return body.rollouts[0].id;
}

// --- credentials -----------------------------------------------------------------------------

describe('credentials', () => {
  let deviceA: RegisteredDevice;
  let deviceB: RegisteredDevice;
  let policyId: string;
  let rolloutId: string;

  beforeAll(async () => {
    deviceA = await registerDevice('contract-a');
    deviceB = await registerDevice('contract-b');
    policyId = await manualPolicy(hookRepository);
  });

  it('rejects a webhook with a missing or wrong secret with 401, for both registries, and writes nothing', async () => {
    const before = await allPages('/api/v1/rollouts', 'rollouts');
    const dockerHub = '/api/v1/webhooks/docker-registry';
    const distribution = '/api/v1/webhooks/distribution';
    const attempts: [string, string, Parameters<Api>[2], string][] = [
      ['docker hub, no token', dockerHub, { token: null, body: dockerHubPush('v2') }, 'missing'],
      ['docker hub, empty token', `${dockerHub}?token=`, { token: null, body: dockerHubPush('v2') }, 'missing'],
      ['docker hub, wrong token', withSecret('wrong'), { token: null, body: dockerHubPush('v2') }, 'not valid'],
      ['docker hub, the admin key', withSecret(host.adminApiKey), { token: null, body: dockerHubPush('v2') }, 'not valid'],
      ['docker hub, secret sent as a bearer header', dockerHub, { token: host.webhookSecret, body: dockerHubPush('v2') }, 'missing'],
      ['docker hub, wrong token and a malformed body', withSecret('wrong'), { token: null, rawBody: '{"push_data":' }, 'not valid'],
      ['distribution, no header', distribution, { token: null, body: distributionPush('v2') }, 'missing'],
      ['distribution, wrong bearer', distribution, { token: 'wrong', body: distributionPush('v2') }, 'not valid'],
      ['distribution, the admin key', distribution, { token: host.adminApiKey, body: distributionPush('v2') }, 'not valid'],
      ['distribution, secret in the query', `${distribution}?token=${encodeURIComponent(host.webhookSecret)}`, { token: null, body: distributionPush('v2') }, 'missing'],
      [
        'distribution, secret as Basic',
        distribution,
        { token: null, headers: { authorization: `Basic ${host.webhookSecret}` }, body: distributionPush('v2') },
        'missing',
      ],
    ];
    for (const [what, path, options, mention] of attempts) {
      const result = await api('POST', path, options);
      expect(result.status, what).toBe(401);
      expectError(result, 401, mention);
    }
    expect(await allPages('/api/v1/rollouts', 'rollouts')).toEqual(before);

    // The same pushes with the right secret do write: the policy above matches them.
    const viaDockerHub = await api('POST', withSecret(host.webhookSecret), { token: null, body: dockerHubPush('v2') });
    expect(viaDockerHub.status).toBe(202);
    expect(viaDockerHub.body.rollouts).toMatchObject([{ policy_id: policyId, image: `${hookRepository}:v2` }]);
    const viaDistribution = await api('POST', distribution, { token: host.webhookSecret, body: distributionPush('v3') });
    expect(viaDistribution.status).toBe(202);
    expect(viaDistribution.body.rollouts).toMatchObject([{ policy_id: policyId, image: expect.stringMatching(new RegExp(`^${hookRepository}:v3@sha256:[0-9a-f]{64}$`)) }]);
    rolloutId = viaDockerHub.body.rollouts[0].id;
    const after = (await allPages('/api/v1/rollouts', 'rollouts')).map((r) => r.id).sort();
    expect(after).toEqual([...before.map((r) => r.id), rolloutId, viaDistribution.body.rollouts[0].id].sort());
  });

  it('answers every admin route 401 without a valid key and 403 for a device token, writing nothing', async () => {
    // Bodies that would be written, were the credential not checked.
    const writes: Record<string, unknown> = {
      'POST /api/v1/policies': { image_pattern: 'iotistic/never-written:*' },
      'PUT /api/v1/policies/{policyId}': { image_pattern: 'iotistic/never-written:*' },
      'POST /api/v1/devices': { name: 'never-written', apps: [{ name: 'app', image: 'iotistic/never-written:v1' }] },
      'PUT /api/v1/devices/{uuid}/apps/{app}': { container: { restart_policy: 'always' } },
      'POST /api/v1/provisioning-keys': { name: 'never-written' },
      'POST /api/v1/notifications': { url: 'https://203.0.113.9/never-written', event_types: ['*'] },
      'PUT /api/v1/notifications/{subscriptionId}': { url: 'https://203.0.113.9/never-written', event_types: ['*'] },
      'POST /api/v1/registries': { name: 'never-written', kind: 'docker-hub' },
      'PATCH /api/v1/registries/{name}': { rotate_secret: true },
    };
    const ids = { policyId, uuid: deviceA.uuid, rolloutId, keyId: 'pvk_00000000000000000000000000', app: 'app', subscriptionId: 'sub_00000000000000000000000000', name: 'docker-registry' };
    expect(adminRoutes.length).toBeGreaterThanOrEqual(23);
    await expectNothingWritten(async () => {
      for (const route of adminRoutes) {
        const path = fill(route.path, ids);
        const body = writes[routeKey(route)];
        const as = (token: string | null, headers?: Record<string, string>) =>
          api(route.method, path, { token, ...(headers ? { headers } : {}), ...(body ? { body } : {}) });

        const anonymous = await as(null);
        expect(anonymous.status, `${routeKey(route)} without Authorization`).toBe(401);
        expectError(anonymous, 401, 'Authorization');
        expect(anonymous.headers.get('www-authenticate')).toBe('Bearer');
        expect((await as('fra_not-a-key')).status, `${routeKey(route)} with a garbage key`).toBe(401);
        expect((await as(null, { authorization: host.adminApiKey })).status, `${routeKey(route)} without "Bearer"`).toBe(401);
        expect((await as(forgedToken(deviceA.uuid))).status, `${routeKey(route)} with a forged device token`).toBe(401);
        const device = await as(deviceA.token);
        expect(device.status, `${routeKey(route)} with a device token`).toBe(403);
        expectError(device, 403, 'device token');
      }
    });
    // The policy the routes above were aimed at is still there, unchanged.
    expect((await api('GET', `/api/v1/policies/${policyId}`)).body.policy.image_pattern).toBe(`${hookRepository}:*`);
  });

  it('lets the admin key through every admin route', async () => {
    const disposable = await api('POST', '/api/v1/policies', { body: { image_pattern: 'iotistic/disposable:*' } });
    expect(disposable.status).toBe(201);
    // Writes get a body that fails validation (so nothing changes); DELETE takes a policy and a
    // device made for it, and a device's token rotation (which takes no body) that device too.
    const spare = await api('POST', '/api/v1/devices', { body: { name: 'disposable', apps: [{ name: 'app', image: 'iotistic/disposable:v1' }] } });
    expect(spare.status).toBe(201);
    const ids = { policyId: disposable.body.policy.id, uuid: spare.body.device.uuid, rolloutId, keyId: 'pvk_00000000000000000000000000', app: 'app', subscriptionId: 'sub_00000000000000000000000000', name: 'no-such-registry' };
    for (const route of adminRoutes) {
      const writes = route.method === 'POST' || route.method === 'PUT';
      const result = await api(route.method, fill(route.path, ids), writes ? { body: { not_a_field: true } } : {});
      expect([401, 403], `${routeKey(route)} with the admin key: ${result.status} ${JSON.stringify(result.body)}`).not.toContain(result.status);
      expect(result.status).toBeLessThan(500);
    }
  });

  it("lets a device reach only its own state, with its own token", async () => {
    const before = await adminDevice(deviceA.uuid);
    for (const route of deviceRoutes) {
      const path = fill(route.path, { uuid: deviceA.uuid });
      const as = (token: string | null) => api(route.method, path, { token, ...(route.method === 'GET' ? {} : { body: report() }) });
      const what = (who: string) => `${routeKey(route)} ${who}`;

      const anonymous = await as(null);
      expect(anonymous.status, what('without a token')).toBe(401);
      expectError(anonymous, 401, 'Authorization');
      const other = await as(deviceB.token);
      expect(other.status, what("with another device's token")).toBe(403);
      expectError(other, 403, 'own state');
      const admin = await as(host.adminApiKey);
      expect(admin.status, what('with the admin key')).toBe(403);
      expectError(admin, 403, 'device token');
      expect((await as(forgedToken(deviceA.uuid))).status, what('with a forged token')).toBe(401);
      expect((await as('garbage')).status, what('with a garbage token')).toBe(401);
    }
    expect(await adminDevice(deviceA.uuid)).toEqual(before);

    for (const route of deviceRoutes) {
      const own = await api(route.method, fill(route.path, { uuid: deviceA.uuid }), {
        token: deviceA.token,
        ...(route.method === 'GET' ? {} : { body: report() }),
      });
      expect(own.status, `${routeKey(route)} with its own token`).toBe(200);
    }
  });
});

// --- bad input -------------------------------------------------------------------------------

interface BadBody {
  what: string;
  body?: unknown;
  rawBody?: string;
  /** What the error message must name. */
  names: string;
}

const validPolicy = { image_pattern: 'iotistic/contract-bad:*' };

const badPolicies: BadBody[] = [
  { what: 'malformed JSON', rawBody: '{"image_pattern": "iotistic/x:*",', names: 'not valid JSON' },
  { what: 'a JSON array', rawBody: '[{"image_pattern": "iotistic/x:*"}]', names: 'body must be an object' },
  { what: 'a JSON string', rawBody: '"iotistic/x:*"', names: 'body must be an object' },
  { what: 'JSON null', rawBody: 'null', names: 'body must be an object' },
  { what: 'no image_pattern', body: { update_strategy: 'staged' }, names: 'image_pattern' },
  { what: 'an image_pattern with spaces', body: { image_pattern: 'iotistic/x :*' }, names: 'image_pattern' },
  { what: "update_strategy 'sometimes'", body: { ...validPolicy, update_strategy: 'sometimes' }, names: 'update_strategy' },
  { what: 'max_failure_rate 2', body: { ...validPolicy, max_failure_rate: 2 }, names: 'max_failure_rate' },
  { what: "max_failure_rate '0.5'", body: { ...validPolicy, max_failure_rate: '0.5' }, names: 'max_failure_rate' },
  { what: 'batch_delay_minutes -1', body: { ...validPolicy, batch_delay_minutes: -1 }, names: 'batch_delay_minutes' },
  // DynamoDB cannot store it: before the schema caught it, the write failed with a 500.
  { what: 'batch_delay_minutes 1e-200', rawBody: '{"image_pattern": "iotistic/x:*", "batch_delay_minutes": 1e-200}', names: 'batch_delay_minutes' },
  { what: 'staged_batches 0', body: { ...validPolicy, staged_batches: 0 }, names: 'staged_batches' },
  { what: 'staged_batches 2.5', body: { ...validPolicy, staged_batches: 2.5 }, names: 'staged_batches' },
  { what: 'batch_percentages [50, 10, 100]', body: { ...validPolicy, batch_percentages: [50, 10, 100] }, names: 'batch_percentages' },
  { what: 'batch_percentages not ending at 100', body: { ...validPolicy, batch_percentages: [10, 50] }, names: 'batch_percentages' },
  {
    what: 'both staged_batches and batch_percentages',
    body: { ...validPolicy, staged_batches: 3, batch_percentages: [10, 50, 100] },
    names: 'not both',
  },
  { what: 'health_check_enabled without a config', body: { ...validPolicy, health_check_enabled: true }, names: 'health_check_config' },
  {
    what: 'a health check of an unknown type',
    body: { ...validPolicy, health_check_enabled: true, health_check_config: { type: 'ping' } },
    names: 'health_check_config',
  },
  { what: "an unknown field 'batch_delay_minute'", body: { ...validPolicy, batch_delay_minute: 5 }, names: 'batch_delay_minute' },
];

const app = { name: 'app', image: 'iotistic/contract-app:v1' };

const badDevices: BadBody[] = [
  { what: 'malformed JSON', rawBody: '{"name": "d", "apps": [', names: 'not valid JSON' },
  { what: 'a JSON array', rawBody: '[]', names: 'body must be an object' },
  { what: 'no name', body: { apps: [app] }, names: 'name' },
  { what: 'no apps', body: { name: 'd' }, names: 'apps' },
  { what: 'no apps at all', body: { name: 'd', apps: [] }, names: 'apps' },
  { what: 'a name that is a number', body: { name: 42, apps: [app] }, names: 'name' },
  { what: 'two apps of one name', body: { name: 'd', apps: [app, { ...app, image: 'iotistic/other:v1' }] }, names: 'duplicate app name "app"' },
  { what: 'an invalid image reference', body: { name: 'd', apps: [{ name: 'app', image: 'Not An Image!' }] }, names: 'apps[0].image' },
  { what: 'an ip_address that is not an IP', body: { name: 'd', ip_address: '10.0.0.300', apps: [app] }, names: 'ip_address' },
  { what: 'a uuid with a "#"', body: { uuid: 'a#b', name: 'd', apps: [app] }, names: 'uuid' },
  { what: 'an unknown field', body: { name: 'd', apps: [app], owner: 'me' }, names: 'owner' },
];

const badReports: BadBody[] = [
  { what: 'malformed JSON', rawBody: '{"apps": [', names: 'not valid JSON' },
  { what: 'a JSON array', rawBody: '[]', names: 'body must be an object' },
  { what: 'no apps', body: { error: null }, names: 'apps' },
  { what: 'apps that is a string', body: { apps: 'running' }, names: 'apps' },
  { what: 'an app without an image', body: { apps: [{ name: 'app', status: 'running' }] }, names: 'apps[0].image' },
  { what: 'an app with an empty status', body: { apps: [{ ...app, status: '' }] }, names: 'apps[0].status' },
  {
    what: 'an invalid image reference',
    body: { apps: [{ name: 'app', image: 'iotistic/app:not a tag', status: 'running' }] },
    names: 'apps[0].image',
  },
  { what: 'two apps of one name', body: { apps: [{ ...app, status: 'running' }, { ...app, status: 'running' }] }, names: 'duplicate app name' },
  { what: 'an ip_address that is not an IP', body: { ...report(), ip_address: 'localhost' }, names: 'ip_address' },
];

const send = (bad: BadBody) => (bad.rawBody !== undefined ? { rawBody: bad.rawBody } : { body: bad.body });

describe('bad input', () => {
  let device: RegisteredDevice;
  let policy: any;
  let rolloutId: string;

  beforeAll(async () => {
    device = await registerDevice('contract-bad-input', `contract-${randomUUID()}`);
    expect((await api('PATCH', `/api/v1/devices/${device.uuid}/state`, { token: device.token, body: report('running') })).status).toBe(200);
    const created = await api('POST', '/api/v1/policies', { body: { ...validPolicy, name: 'kept as it is' } });
    expect(created.status).toBe(201);
    policy = created.body.policy;
    await manualPolicy('iotistic/contract-input');
    rolloutId = await pushedRollout('iotistic/contract-input', 'v1');
  });

  it.each(badPolicies)('refuses a policy with $what (400 naming it), on create and on replace', async (bad) => {
    await expectNothingWritten(async () => {
      expectError(await api('POST', '/api/v1/policies', send(bad)), 400, bad.names);
      expectError(await api('PUT', `/api/v1/policies/${policy.id}`, send(bad)), 400, bad.names);
    });
    expect((await api('GET', `/api/v1/policies/${policy.id}`)).body.policy).toEqual(policy);
  });

  it.each(badDevices)('refuses a device with $what (400 naming it)', async (bad) => {
    await expectNothingWritten(async () => {
      expectError(await api('POST', '/api/v1/devices', send(bad)), 400, bad.names);
    });
  });

  it('refuses a second device with a uuid already registered (409)', async () => {
    const before = await adminDevice(device.uuid);
    await expectNothingWritten(async () => {
      const again = await api('POST', '/api/v1/devices', {
        body: { uuid: device.uuid, name: 'impostor', apps: [{ name: 'other', image: 'iotistic/other:v9' }] },
      });
      expectError(again, 409, device.uuid);
    });
    expect(await adminDevice(device.uuid)).toEqual(before);
  });

  it.each(badReports)("refuses a device report with $what (400 naming it), leaving the device's state as it was", async (bad) => {
    const before = await adminDevice(device.uuid);
    expect(before.current_apps).toEqual(report('running').apps);
    expectError(await api('PATCH', `/api/v1/devices/${device.uuid}/state`, { token: device.token, ...send(bad) }), 400, bad.names);
    expect(await adminDevice(device.uuid)).toEqual(before);
  });

  it('refuses bodies over the size limit with 413', async () => {
    const padding = (bytes: number) => 'x'.repeat(bytes);
    const before = await adminDevice(device.uuid);
    await expectNothingWritten(async () => {
      const adminBody = JSON.stringify({ ...validPolicy, name: padding(100 * 1024) });
      expectError(await api('POST', '/api/v1/policies', { rawBody: adminBody }), 413, 'larger than');
      expectError(await api('PUT', `/api/v1/policies/${policy.id}`, { rawBody: adminBody }), 413, 'larger than');
      const deviceBody = JSON.stringify({ name: padding(100 * 1024), apps: [app] });
      expectError(await api('POST', '/api/v1/devices', { rawBody: deviceBody }), 413, 'larger than');
      const reportBody = JSON.stringify({ ...report('stopped'), error: padding(64 * 1024) });
      expectError(await api('PATCH', `/api/v1/devices/${device.uuid}/state`, { token: device.token, rawBody: reportBody }), 413, 'larger than');
      const webhookBody = JSON.stringify({ ...dockerHubPush('huge'), padding: padding(1024 * 1024) });
      expectError(await api('POST', withSecret(host.webhookSecret), { token: null, rawBody: webhookBody }), 413, 'larger than');
    });
    expect(await adminDevice(device.uuid)).toEqual(before);
  });

  it('refuses a body that is not JSON by its content type with 415', async () => {
    const textPlain = { 'content-type': 'text/plain' };
    const before = await adminDevice(device.uuid);
    await expectNothingWritten(async () => {
      expectError(await api('POST', '/api/v1/policies', { body: validPolicy, headers: textPlain }), 415, 'text/plain');
      expectError(await api('PUT', `/api/v1/policies/${policy.id}`, { body: validPolicy, headers: textPlain }), 415, 'text/plain');
      expectError(await api('POST', '/api/v1/devices', { body: { name: 'd', apps: [app] }, headers: textPlain }), 415, 'text/plain');
      expectError(
        await api('PATCH', `/api/v1/devices/${device.uuid}/state`, { token: device.token, body: report('stopped'), headers: textPlain }),
        415,
        'text/plain',
      );
      expectError(
        await api('POST', '/api/v1/webhooks/distribution', { token: host.webhookSecret, body: distributionPush('v9'), headers: textPlain }),
        415,
        'text/plain',
      );
    });
    expect(await adminDevice(device.uuid)).toEqual(before);
  });

  it('answers unknown ids with 404 naming the id', async () => {
    await expectNothingWritten(async () => {
      const policyId = 'pol_01nothingnothingnothing000';
      expectError(await api('GET', `/api/v1/policies/${policyId}`), 404, policyId);
      expectError(await api('PUT', `/api/v1/policies/${policyId}`, { body: validPolicy }), 404, policyId);
      expectError(await api('DELETE', `/api/v1/policies/${policyId}`), 404, policyId);
      expectError(await api('GET', '/api/v1/devices/no-such-device'), 404, 'no-such-device');
      expectError(await api('GET', '/api/v1/rollouts/ro-nothing'), 404, 'ro-nothing');
      expectError(await api('GET', '/api/v1/rollouts/ro-nothing/events'), 404, 'ro-nothing');
      expectError(await api('POST', '/api/v1/rollouts/ro-nothing/start'), 404, 'ro-nothing');
    });
  });

  it('answers ids longer than any id with 404, not a failed lookup', async () => {
    const long = 'x'.repeat(3000);
    await expectNothingWritten(async () => {
      for (const route of adminRoutes.filter((r) => r.path.includes('{'))) {
        const path = fill(route.path, { policyId: long, uuid: long, rolloutId: long, keyId: long, app: long, subscriptionId: long, name: long });
        const body = route.method === 'PUT' ? { body: validPolicy } : {};
        const name = /\{(\w+)\}/.exec(route.path)![1]!;
        expectError(await api(route.method, path, body), 404, name);
      }
    });
  });

  it('refuses a bad limit with 400 naming it', async () => {
    const lists = ['/api/v1/policies', '/api/v1/devices', '/api/v1/rollouts', `/api/v1/rollouts/${rolloutId}/events`, '/api/v1/registries'];
    for (const list of lists) {
      for (const limit of ['0', '1000', 'abc', '-1', '2.5', '']) {
        expectError(await api('GET', `${list}?limit=${limit}`), 400, 'limit');
      }
    }
  });

  it('refuses a tampered cursor with 400, never a 500', async () => {
    const lists = ['/api/v1/policies', '/api/v1/devices', '/api/v1/rollouts'];
    const decode = (cursor: string) => JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    const encode = (value: unknown) => Buffer.from(JSON.stringify(value), 'utf8').toString('base64url');
    const cursors = new Map<string, string>();
    for (const list of lists) {
      const first = await api('GET', `${list}?limit=1`);
      expect(first.status).toBe(200);
      expect(first.body.next_cursor, `${list} has a second page`).toEqual(expect.any(String));
      cursors.set(list, first.body.next_cursor);
    }
    const refused: string[] = [];
    for (const list of lists) {
      const real = cursors.get(list)!;
      const other = cursors.get(list === '/api/v1/policies' ? '/api/v1/devices' : '/api/v1/policies')!;
      // A cursor is a key of the listing's index; keep its partition so only the rest is wrong.
      const keyAttributes = decode(real) as Record<string, string>;
      const partition = Object.keys(keyAttributes).find((name) => /^gsi\d+pk$/.test(name))!;
      const others = Object.keys(keyAttributes).filter((name) => name !== partition);
      const withOthers = (value: unknown) =>
        encode({ ...Object.fromEntries(others.map((name) => [name, value])), [partition]: keyAttributes[partition] });
      const tampered: [string, string][] = [
        ['garbage', 'not-a-cursor!'],
        ['cut short', real.slice(0, -4)],
        ['of another listing', other],
        ['not an object', encode(['a', 'b'])],
        ['with a key attribute missing', encode({ ...keyAttributes, [others[0]!]: undefined })],
        ['with only the partition', encode({ [partition]: keyAttributes[partition] })],
        ['with an extra attribute', encode({ ...keyAttributes, extra: 'x' })],
        ['with empty values', withOthers('')],
        ['with numbers for strings', withOthers(1)],
        ['with huge values', withOthers('x'.repeat(3000))],
      ];
      for (const [what, cursor] of tampered) {
        const result = await api('GET', `${list}?limit=1&cursor=${encodeURIComponent(cursor)}`);
        if (result.status !== 400 || !String(result.body?.error?.message).includes('cursor')) {
          refused.push(`${list} with a cursor ${what}: ${result.status} ${JSON.stringify(result.body)}`);
        }
      }
    }
    // All at once, so that one failure shows every cursor that gets through.
    expect(refused).toEqual([]);

    const events = await api('GET', `/api/v1/rollouts/${rolloutId}/events?limit=1`);
    expect(events.body.next_cursor).toEqual(expect.any(String));
    for (const cursor of ['garbage', `${events.body.next_cursor}x`, encode({ id: events.body.next_cursor })]) {
      expectError(await api('GET', `/api/v1/rollouts/${rolloutId}/events?cursor=${encodeURIComponent(cursor)}`), 400, 'cursor');
    }
  });

  it('refuses an unknown rollout filter with 400 naming it', async () => {
    expectError(await api('GET', '/api/v1/rollouts?status=sometimes'), 400, 'status');
    expectError(await api('GET', '/api/v1/rollouts?image_name='), 400, 'image_name');
    expectError(await api('GET', '/api/v1/rollouts?colour=red'), 400, 'colour');
  });

  it('answers an unknown route or method with 404', async () => {
    expectError(await api('GET', '/api/v1/nothing-here'), 404, '/api/v1/nothing-here');
    expectError(await api('GET', '/api/v2/policies'), 404, '/api/v2/policies');
    expectError(await api('POST', `/api/v1/policies/${policy.id}/clone`), 404, 'clone');
    expectError(await api('POST', '/api/v1/webhooks/quay', { token: host.webhookSecret, body: {} }), 404, 'quay');
    expectError(await api('PATCH', '/api/v1/policies', { body: validPolicy }), 404, 'PATCH');
    expectError(await api('GET', '/api/v1/policies/%E0%A4%A'), 400, 'percent-encoding');
  });

  it('refuses to start a rollout that does not exist (404) and one that is not pending (409)', async () => {
    expectError(await api('POST', '/api/v1/rollouts/ro-000000000000000000000000/start'), 404, 'ro-000000000000000000000000');
    // A push for a policy of the `staged` strategy starts on its own; a second start is a conflict.
    const staged = await api('POST', '/api/v1/policies', { body: { image_pattern: 'iotistic/contract-started:*' } });
    expect(staged.status).toBe(201);
    const started = await pushedRollout('iotistic/contract-started', 'v1');
    expectError(await api('POST', `/api/v1/rollouts/${started}/start`), 409, started);
  });
});

// --- policies --------------------------------------------------------------------------------

describe('policies', () => {
  it('creates with defaults, reads, pages, replaces and deletes', async () => {
    const created = await api('POST', '/api/v1/policies', { body: { image_pattern: 'iotistic/crud-app:*' } });
    expect(created.status).toBe(201);
    const policy = created.body.policy;
    expect(policy).toMatchObject({
      id: expect.stringMatching(/^pol_/),
      name: null,
      enabled: true,
      image_pattern: 'iotistic/crud-app:*',
      update_strategy: 'staged',
      staged_batches: 3,
      batch_percentages: [10, 50, 100],
      batch_delay_minutes: 30,
      update_timeout_minutes: 30,
      max_failure_rate: 0.2,
      auto_rollback_enabled: true,
      health_check_enabled: false,
      health_check_config: null,
    });

    const read = await api('GET', `/api/v1/policies/${policy.id}`);
    expect(read.status).toBe(200);
    expect(read.body.policy).toEqual(policy);

    const more: string[] = [];
    for (const n of [1, 2, 3]) {
      const { status, body } = await api('POST', '/api/v1/policies', { body: { name: `page ${n}`, image_pattern: `iotistic/page-${n}:*` } });
      expect(status).toBe(201);
      more.push(body.policy.id);
    }
    const first = await api('GET', '/api/v1/policies?limit=2');
    expect(first.status).toBe(200);
    expect(first.body.policies).toHaveLength(2);
    expect(first.body.next_cursor).toEqual(expect.any(String));
    const seen: string[] = first.body.policies.map((p: any) => p.id);
    let cursor: string | null = first.body.next_cursor;
    while (cursor) {
      const page = await api('GET', `/api/v1/policies?limit=2&cursor=${encodeURIComponent(cursor)}`);
      expect(page.status).toBe(200);
      expect(page.body.policies.length).toBeLessThanOrEqual(2);
      seen.push(...page.body.policies.map((p: any) => p.id));
      cursor = page.body.next_cursor;
    }
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen).toEqual(expect.arrayContaining([policy.id, ...more]));
    expect(seen.sort()).toEqual((await allPages('/api/v1/policies', 'policies')).map((p) => p.id).sort());

    // PUT replaces the whole policy: what it leaves out goes back to the default.
    const tuned = await api('PUT', `/api/v1/policies/${policy.id}`, {
      body: {
        name: 'tuned',
        image_pattern: 'iotistic/crud-app:v*',
        max_failure_rate: 0.5,
        batch_percentages: [25, 100],
        health_check_enabled: true,
        health_check_config: { type: 'container', containerName: 'app' },
      },
    });
    expect(tuned.status).toBe(200);
    expect(tuned.body.policy).toMatchObject({
      id: policy.id,
      name: 'tuned',
      max_failure_rate: 0.5,
      batch_percentages: [25, 100],
      staged_batches: 2,
      created_at: policy.created_at,
    });
    const replaced = await api('PUT', `/api/v1/policies/${policy.id}`, {
      body: { image_pattern: 'iotistic/crud-app:v2*', update_strategy: 'auto' },
    });
    expect(replaced.status).toBe(200);
    expect(replaced.body.policy).toMatchObject({
      id: policy.id,
      name: null,
      image_pattern: 'iotistic/crud-app:v2*',
      update_strategy: 'auto',
      max_failure_rate: 0.2,
      batch_percentages: [10, 50, 100],
      health_check_enabled: false,
      health_check_config: null,
      created_at: policy.created_at,
    });
    expect((await api('GET', `/api/v1/policies/${policy.id}`)).body.policy).toEqual(replaced.body.policy);

    const deleted = await api('DELETE', `/api/v1/policies/${policy.id}`);
    expect(deleted.status).toBe(204);
    expect(deleted.body).toBeUndefined();
    expectError(await api('GET', `/api/v1/policies/${policy.id}`), 404, policy.id);
    expectError(await api('DELETE', `/api/v1/policies/${policy.id}`), 404, policy.id);
    expect((await allPages('/api/v1/policies', 'policies')).map((p) => p.id)).not.toContain(policy.id);
  });
});

// --- devices ---------------------------------------------------------------------------------

describe('devices', () => {
  it('registers with a token that is never shown again, serves the target state with an ETag, records reports', async () => {
    const apps = [
      { name: 'app', image: 'iotistic/contract-app:v1' },
      { name: 'sidecar', image: 'registry.example.com:5000/team/sidecar:2.1' },
    ];
    const registered = await api('POST', '/api/v1/devices', { body: { name: 'contract-device', ip_address: '10.0.0.7', apps } });
    expect(registered.status).toBe(201);
    const { device, device_token: token } = registered.body;
    expect(device).toMatchObject({ name: 'contract-device', ip_address: '10.0.0.7', target_apps: apps, current_apps: [] });
    expect(token).toMatch(new RegExp(`^dt_${device.uuid}\\.`));
    expect(JSON.stringify(device)).not.toContain(token);

    const shown = await api('GET', `/api/v1/devices/${device.uuid}`);
    expect(shown.status).toBe(200);
    expect(shown.body.device).toEqual(device);
    const listed = await allPages('/api/v1/devices', 'devices');
    expect(listed.map((d) => d.uuid)).toContain(device.uuid);
    for (const text of [JSON.stringify(shown.body), JSON.stringify(listed)]) {
      expect(text).not.toContain(token);
      expect(text).not.toContain(token.split('.')[1]);
      expect(text).not.toMatch(/token/);
    }

    const state = await api('GET', `/api/v1/devices/${device.uuid}/state`, { token });
    expect(state.status).toBe(200);
    expect(state.body.apps).toEqual(apps);
    const etag = state.headers.get('etag');
    expect(etag).toEqual(expect.any(String));

    const unchanged = await api('GET', `/api/v1/devices/${device.uuid}/state`, { token, headers: { 'if-none-match': etag! } });
    expect(unchanged.status).toBe(304);
    expect(unchanged.body).toBeUndefined();
    const stale = await api('GET', `/api/v1/devices/${device.uuid}/state`, { token, headers: { 'if-none-match': '"stale"' } });
    expect(stale.status).toBe(200);

    const reported = apps.map((a) => ({ ...a, status: 'running' }));
    const patched = await api('PATCH', `/api/v1/devices/${device.uuid}/state`, { token, body: { apps: reported, agent_version: '1.2.3' } });
    expect(patched.status).toBe(200);
    expect(patched.body.current_state).toMatchObject({ uuid: device.uuid, apps: reported, error: null });
    const after = await adminDevice(device.uuid);
    expect(after.current_apps).toEqual(reported);
    expect(after.reported_at).toEqual(expect.any(String));
    expect(after.target_apps).toEqual(apps);
  });
});
