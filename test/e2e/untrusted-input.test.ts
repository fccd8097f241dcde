/**
 * Input a client controls that once broke the API (issue #7): query parameter and header names
 * that are also names on Object.prototype, tampered page cursors, health-check hosts that are not
 * hosts. Through real HTTP on the embedded host; every answer is a 2xx or a 4xx, never a dropped
 * connection or a 5xx.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHost, type Host } from '../../infra/embedded/host';
import { apiClient, expectError, waitFor } from '../support/api';

let host: Host;
let api: ReturnType<typeof apiClient>;

beforeAll(async () => {
  host = await startHost({ port: 0, dataDir: ':memory:', tickSeconds: 1, quiet: true });
  api = apiClient(host.url, host.adminApiKey);
});

afterAll(async () => {
  await host?.stop();
});


const encode = (value: unknown) => Buffer.from(JSON.stringify(value), 'utf8').toString('base64url');
const decode = (cursor: string) => JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));

async function registerDevice(name: string): Promise<{ uuid: string; token: string }> {
  const { status, body } = await api('POST', '/api/v1/devices', {
    body: { name, apps: [{ name: 'app', image: 'iotistic/untrusted-app:v1' }] },
  });
  expect(status).toBe(201);
  return { uuid: body.device.uuid, token: body.device_token };
}

describe('names that are also names on Object.prototype', () => {
  const names = ['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf'];
  let device: { uuid: string; token: string };

  beforeAll(async () => {
    device = await registerDevice('untrusted-proto');
  });

  it.each(names)('answers a query parameter named %s as the route would answer any unknown parameter', async (name) => {
    for (const query of [`${name}=1`, `${name}=1&${name}=2`, `${name}`, `limit=1&${name}=x`]) {
      // Listings that ignore unknown parameters answer as usual.
      for (const path of ['/api/v1/policies', '/api/v1/devices', '/api/v1/rollouts/active']) {
        const result = await api('GET', `${path}?${query}`);
        expect(result.status, `GET ${path}?${query}: ${JSON.stringify(result.body)}`).toBe(200);
      }
      const state = await api('GET', `/api/v1/devices/${device.uuid}/state?${query}`, { token: device.token });
      expect(state.status, `device state ?${query}`).toBe(200);
      // The rollout listing checks its query strictly, and names the stranger.
      expectError(await api('GET', `/api/v1/rollouts?${query}`), 400, name);
    }
  });

  it.each(names)('answers a header named %s as if it were any other header', async (name) => {
    const headers = { [name]: 'x' };
    for (const path of ['/api/v1/policies', '/api/v1/devices', '/api/v1/rollouts']) {
      const result = await api('GET', path, { headers });
      expect(result.status, `GET ${path} with header ${name}: ${JSON.stringify(result.body)}`).toBe(200);
    }
    expect((await api('GET', `/api/v1/devices/${device.uuid}/state`, { token: device.token, headers })).status).toBe(200);
    expectError(await api('GET', '/api/v1/policies', { token: null, headers }), 401, 'Authorization');
    const created = await api('POST', '/api/v1/policies', { headers, body: { image_pattern: `iotistic/proto-${name.replace(/_/g, '')}:*` } });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
  });
});

describe('the host of a TCP health check', () => {
  const policyWith = (host: unknown) => ({
    image_pattern: 'iotistic/untrusted-tcp:*',
    health_check_enabled: true,
    health_check_config: { type: 'tcp', host, port: 8080 },
  });
  const policyIds = async () => {
    const { status, body } = await api('GET', '/api/v1/policies?limit=200');
    expect(status).toBe(200);
    return body.policies.map((p: { id: string }) => p.id).sort();
  };

  it.each([
    'gopher://10.0.0.1',
    'file:///etc/passwd',
    'a b',
    '',
    ' device.local',
    'device.local:22',
    '10.0.0.1:22',
    '[::1]:22',
    'device..local',
    '.device.local',
    'device.local.',
    'device.local/path',
    'user@device.local',
    '-device.local',
    'device_one.local',
    '10.0.0.300',
    'x'.repeat(64) + '.local',
    '{device_ip}:22',
    '{device_ip}.local',
    'http://{device_ip}',
    '{device_name}/x',
    '{device_uuid}',
    '{device_name',
    'device.local\n',
  ])('refuses %j with 400 naming health_check_config.host, writing nothing', async (host) => {
    const before = await policyIds();
    const result = await api('POST', '/api/v1/policies', { body: policyWith(host) });
    expectError(result, 400, 'health_check_config.host');
    expect(result.body.error.details.issues).toEqual([{ path: 'health_check_config.host', message: expect.any(String) }]);
    expect(await policyIds()).toEqual(before);
  });

  it.each(['{device_ip}', '[{device_ip}]', '{device_name}', '{device_name}.fleet.local', 'gateway-1.example.com', 'localhost', '10.0.0.1', '::1', '2001:db8::7', '[2001:db8::7]'])(
    'accepts %j',
    async (host) => {
      const result = await api('POST', '/api/v1/policies', { body: policyWith(host) });
      expect(result.status, JSON.stringify(result.body)).toBe(201);
      expect(result.body.policy.health_check_config.host).toBe(host);
    },
  );
});

describe('the shape of a 400', () => {
  it('lists every problem in details.issues as {path, message}, for API bodies, queries and webhooks alike', async () => {
    const policy = await api('POST', '/api/v1/policies', { body: { image_pattern: 'iotistic/shape:*', max_failure_rate: 2, colour: 'red' } });
    expectError(policy, 400, 'max_failure_rate', 'colour');
    expect(policy.body.error.details).toEqual({
      issues: expect.arrayContaining([
        { path: 'max_failure_rate', message: expect.any(String) },
        { path: 'colour', message: expect.any(String) },
      ]),
    });

    const device = await api('POST', '/api/v1/devices', { body: { name: 'd', apps: [{ name: 'app', image: 'Not An Image!' }] } });
    expectError(device, 400, 'apps[0].image');
    expect(device.body.error.details).toEqual({ issues: [{ path: 'apps[0].image', message: expect.any(String) }] });

    const query = await api('GET', '/api/v1/rollouts?status=sometimes');
    expectError(query, 400, 'status');
    expect(query.body.error.details).toEqual({ issues: [{ path: 'status', message: expect.any(String) }] });

    const push = {
      events: [
        {
          id: randomUUID(),
          timestamp: new Date().toISOString(),
          action: 'push',
          target: { mediaType: 'application/vnd.docker.distribution.manifest.v2+json', repository: 'iotistic/shape', tag: '-rc', digest: 'sha256:abc' },
        },
      ],
    };
    const webhook = await api('POST', '/api/v1/webhooks/distribution', { token: host.webhookSecret, body: push });
    expectError(webhook, 400, 'events[0].target.tag', 'events[0].target.digest');
    expect(webhook.body.error.details).toEqual({
      issues: [
        { path: 'events[0].target.tag', message: expect.stringMatching(/^must be a tag/) },
        { path: 'events[0].target.digest', message: expect.stringMatching(/^must be a digest/) },
      ],
    });
  });
});

describe('page cursors', () => {
  let rolloutId: string;

  beforeAll(async () => {
    // Enough of everything for every listing to have a second page at limit=1.
    for (let i = 0; i < 3; i++) await registerDevice(`untrusted-cursor-${i}`);
    const policy = await api('POST', '/api/v1/policies', { body: { image_pattern: 'iotistic/untrusted-app:*', update_strategy: 'manual' } });
    expect(policy.status).toBe(201);
    const push = { push_data: { tag: 'v2', pushed_at: Math.floor(Date.now() / 1000), pusher: 'ci' }, repository: { repo_name: 'iotistic/untrusted-app' } };
    const hook = await api('POST', `/api/v1/webhooks/docker-registry?token=${encodeURIComponent(host.webhookSecret)}`, { token: null, body: push });
    expect(hook.status).toBe(202);
    rolloutId = hook.body.rollouts[0].id;
    await waitFor(async () => ((await api('GET', `/api/v1/rollouts/${rolloutId}`)).body.rollout?.planned ? true : undefined), 20_000, 'planning');
    // Started, so that its event log has more than one page.
    expect((await api('POST', `/api/v1/rollouts/${rolloutId}/start`)).status).toBe(200);
    await waitFor(async () => ((await api('GET', `/api/v1/rollouts/${rolloutId}/events?limit=1`)).body.next_cursor ? true : undefined), 20_000, 'events');
  });

  /** Variations of a real cursor's JSON that no page ever hands out (`optional` attributes may go). */
  function tamperings(real: unknown, optional: string[] = []): [string, string][] {
    const variations: [string, string][] = [
      ['garbage', 'not-a-cursor!'],
      ['not base64url JSON', encode('x').slice(1)],
      ['with a character added', `${encode(real)}x`],
      ['null', encode(null)],
      ['an array', encode([real])],
      ['a number', encode(7)],
      ['an empty object', encode({})],
      ['with an extra attribute', encode({ ...(real as object), extra: 'x' })],
    ];
    // Every attribute replaced by values of the wrong kind, and dropped.
    const walk = (value: unknown, rebuild: (v: unknown) => unknown, at: string) => {
      if (value === null || typeof value !== 'object') return;
      for (const [name, inner] of Object.entries(value)) {
        const set = (v: unknown) => rebuild({ ...(value as object), [name]: v });
        const { [name]: _, ...without } = value as Record<string, unknown>;
        if (!optional.includes(`${at}${name}`)) variations.push([`without ${at}${name}`, encode(rebuild(without))]);
        for (const wrong of [null, '', 0, -1, 1.5, 99, 'x', 'x'.repeat(3000), [], {}, true]) {
          if (JSON.stringify(wrong) !== JSON.stringify(inner)) variations.push([`${at}${name} = ${JSON.stringify(wrong).slice(0, 20)}`, encode(set(wrong))]);
        }
        if (typeof inner === 'string') {
          variations.push([`${at}${name} with a suffix`, encode(set(`${inner}~`))]);
          variations.push([`${at}${name} cut short`, encode(set(inner.slice(0, -1)))]);
        }
        walk(inner, set, `${at}${name}.`);
      }
    };
    walk(real, (v) => v, '');
    return variations;
  }

  it("refuses every tampered cursor of every listing with 400 'cursor …', never a 500", async () => {
    const listings = [
      '/api/v1/policies',
      '/api/v1/devices',
      '/api/v1/rollouts',
      `/api/v1/rollouts/${rolloutId}/events`,
      `/api/v1/rollouts/${rolloutId}/devices`,
    ];
    const wrong: string[] = [];
    for (const listing of listings) {
      const first = await api('GET', `${listing}?limit=1`);
      expect(first.status).toBe(200);
      expect(first.body.next_cursor, `${listing} has a second page`).toEqual(expect.any(String));
      const second = await api('GET', `${listing}?limit=1&cursor=${encodeURIComponent(first.body.next_cursor)}`);
      expect(second.status, `${listing} takes its own cursor`).toBe(200);
      // A rollout's device listing goes on at the start of the next shard with no key.
      for (const [what, cursor] of tamperings(decode(first.body.next_cursor), listing.endsWith('/devices') ? ['key'] : [])) {
        const result = await api('GET', `${listing}?limit=1&cursor=${encodeURIComponent(cursor)}`);
        if (result.status !== 400 || !/^cursor /.test(String(result.body?.error?.message))) {
          wrong.push(`${listing} with a cursor ${what}: ${result.status} ${JSON.stringify(result.body).slice(0, 200)}`);
        }
      }
    }
    // All at once, so that one failure shows every cursor that gets through.
    expect(wrong).toEqual([]);
  });

  it('refuses the rollout-device cursors of issue #7 as not belonging to the listing', async () => {
    const otherShard = (await api('GET', `/api/v1/rollouts/${rolloutId}`)).body.rollout.shard_count;
    const pk = `ROLLOUT#${rolloutId}#S#0`;
    for (const cursor of [
      { shard: 0, key: null },
      { shard: 0, key: '' },
      { shard: 0, key: { pk, sk: 'BATCH#001' } },
      { shard: 0, key: { pk, sk: 'UUID#x#app' } },
      { shard: 0, key: { pk, sk: 'DEVICE#1' } },
      { shard: 0, key: { pk, sk: 'DEVICE#0000000001', extra: 'x' } },
      { shard: 0, key: { pk, sk: 'DEVICE#000000001', extra: 'x' } },
      { shard: otherShard, key: { pk: `ROLLOUT#${rolloutId}#S#${otherShard}`, sk: 'DEVICE#000000001' } },
    ]) {
      const result = await api('GET', `/api/v1/rollouts/${rolloutId}/devices?cursor=${encode(cursor)}`);
      expectError(result, 400, 'cursor does not belong to this listing');
      expect(result.body.error.code).toBe('invalid_request');
    }
  });
});
