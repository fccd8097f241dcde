/**
 * Provisioning keys (issue #8): an admin creates a key, devices register themselves with it and
 * get their own token; uses are counted so that concurrent provisions never pass max_uses, and a
 * refused key writes nothing. Through real HTTP on the embedded host.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHost, type Host } from '../../infra/embedded/host';
import { apiClient, type ApiResult, expectError } from '../support/api';

let host: Host;
let api: ReturnType<typeof apiClient>;

beforeAll(async () => {
  host = await startHost({ port: 0, dataDir: ':memory:', tickSeconds: 1, quiet: true });
  api = apiClient(host.url, host.adminApiKey);
});

afterAll(async () => {
  await host?.stop();
});

const apps = [{ name: 'app', image: 'iotistic/provisioned-app:v1' }];


async function createKey(body: Record<string, unknown> = {}) {
  const created = await api('POST', '/api/v1/provisioning-keys', { body });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  return created.body as { provisioning_key: any; key: string };
}

const provision = (key: string, body: Record<string, unknown>) => api('POST', '/api/v1/devices/provision', { token: key, body });

async function allKeys(): Promise<any[]> {
  const items: any[] = [];
  let cursor: string | null = null;
  do {
    const page: ApiResult = await api('GET', `/api/v1/provisioning-keys?limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
    expect(page.status).toBe(200);
    items.push(...page.body.provisioning_keys);
    cursor = page.body.next_cursor;
  } while (cursor);
  return items;
}

async function allDeviceUuids(): Promise<string[]> {
  const uuids: string[] = [];
  let cursor: string | null = null;
  do {
    const page: ApiResult = await api('GET', `/api/v1/devices?limit=200${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
    uuids.push(...page.body.devices.map((d: any) => d.uuid));
    cursor = page.body.next_cursor;
  } while (cursor);
  return uuids.sort();
}

async function keyById(id: string) {
  return (await allKeys()).find((k) => k.id === id);
}

describe('provisioning keys', () => {
  it('creates a key shown once and stored hashed, lists it page by page, revokes it and keeps it listed', async () => {
    const expiresAt = new Date(Date.now() + 3600_000).toISOString();
    const { provisioning_key: created, key } = await createKey({ name: 'line 3', expires_at: expiresAt, max_uses: 5 });
    expect(key).toMatch(/^fpk_[0-9a-z]{26}\.[A-Za-z0-9_-]{20,}$/);
    expect(created).toEqual({ id: expect.stringMatching(/^pvk_/), name: 'line 3', expires_at: expiresAt, max_uses: 5, uses: 0, created_at: expect.any(String), revoked_at: null });
    const bare = await createKey();
    expect(bare.provisioning_key).toMatchObject({ name: null, expires_at: null, max_uses: null, uses: 0 });
    await createKey({ name: 'third, for a second page' });

    const listed = await allKeys();
    expect(listed.map((k) => k.id)).toEqual(expect.arrayContaining([created.id, bare.provisioning_key.id]));
    expect(new Set(listed.map((k) => k.id)).size).toBe(listed.length);
    expect(listed.find((k) => k.id === created.id)).toEqual(created);
    expect(JSON.stringify(listed)).not.toContain(key.split('.')[1]);

    const revoked = await api('DELETE', `/api/v1/provisioning-keys/${created.id}`);
    expect(revoked.status).toBe(204);
    expect(revoked.body).toBeUndefined();
    const after = await keyById(created.id);
    expect(after).toEqual({ ...created, revoked_at: expect.any(String) });
    // Revoking again changes nothing; an unknown key is a 404.
    expect((await api('DELETE', `/api/v1/provisioning-keys/${created.id}`)).status).toBe(204);
    expect(await keyById(created.id)).toEqual(after);
    expectError(await api('DELETE', '/api/v1/provisioning-keys/pvk_nothing'), 404, 'pvk_nothing');
  });

  it('refuses bad key settings with 400 naming them, writing nothing', async () => {
    const before = await allKeys();
    const bad: [Record<string, unknown>, string][] = [
      [{ expires_at: new Date(Date.now() - 1000).toISOString() }, 'expires_at must be in the future'],
      [{ expires_at: 'tomorrow' }, 'expires_at'],
      [{ max_uses: 0 }, 'max_uses'],
      [{ max_uses: 2.5 }, 'max_uses'],
      [{ max_uses: '3' }, 'max_uses'],
      [{ name: '' }, 'name'],
      [{ uses: 3 }, 'uses'],
    ];
    for (const [body, mention] of bad) expectError(await api('POST', '/api/v1/provisioning-keys', { body }), 400, mention);
    expect(await allKeys()).toEqual(before);
  });

  it('takes only the admin key for key management', async () => {
    const { key } = await createKey();
    for (const token of [null, key, 'fra_not-a-key']) {
      expect((await api('GET', '/api/v1/provisioning-keys', { token })).status).toBe(401);
      expect((await api('POST', '/api/v1/provisioning-keys', { token, body: {} })).status).toBe(401);
    }
  });
});

describe('provisioning a device', () => {
  it('registers the device with its own token, as admin registration does, and counts the use', async () => {
    const { provisioning_key: created, key } = await createKey({ max_uses: 10 });
    const uuid = `prov-${randomUUID()}`;
    const container = { network_mode: 'host', restart_policy: 'always', env: { MODE: 'edge' } };
    const provisioned = await provision(key, { uuid, name: 'self-made', ip_address: '10.1.2.3', apps: [{ ...apps[0], container }] });
    expect(provisioned.status, JSON.stringify(provisioned.body)).toBe(201);
    expect(provisioned.body.device).toMatchObject({ uuid, name: 'self-made', ip_address: '10.1.2.3', target_apps: [{ ...apps[0], container }], provisioned_by: created.id });
    const token = provisioned.body.device_token;
    expect(token).toMatch(new RegExp(`^dt_${uuid}\\.`));

    const state = await api('GET', `/api/v1/devices/${uuid}/state`, { token });
    expect(state.status).toBe(200);
    expect(state.body.apps).toEqual([{ ...apps[0], container }]);
    expect((await api('GET', `/api/v1/devices/${uuid}`)).body.device).toEqual(provisioned.body.device);
    expect((await keyById(created.id)).uses).toBe(1);

    // Without a uuid the device gets one.
    const generated = await provision(key, { name: 'no uuid', apps });
    expect(generated.status).toBe(201);
    expect(generated.body.device.uuid).toEqual(expect.any(String));
    expect((await keyById(created.id)).uses).toBe(2);
  });

  it('never registers a uuid twice nor issues a second token: a retry is a 409 that says why, and uses no use', async () => {
    const { provisioning_key: created, key } = await createKey({ max_uses: 10 });
    const other = await createKey();
    const uuid = `prov-${randomUUID()}`;
    const first = await provision(key, { uuid, name: 'restarted agent', apps });
    expect(first.status).toBe(201);
    const device = (await api('GET', `/api/v1/devices/${uuid}`)).body.device;

    const retry = await provision(key, { uuid, name: 'restarted agent', apps });
    expectError(retry, 409, `device ${uuid} is already registered`, 'by this provisioning key', 'persist its token');
    expect(JSON.stringify(retry.body)).not.toContain('dt_');
    const byOther = await provision(other.key, { uuid, name: 'takeover', apps: [{ name: 'app', image: 'evil/app:v1' }] });
    expectError(byOther, 409, `device ${uuid} is already registered`);
    expect(byOther.body.error.message).not.toContain('this provisioning key');
    // A device an admin registered cannot be taken over either.
    const adminMade = await api('POST', '/api/v1/devices', { body: { uuid: `admin-${uuid}`, name: 'admin made', apps } });
    expect(adminMade.status).toBe(201);
    expectError(await provision(key, { uuid: `admin-${uuid}`, name: 'takeover', apps }), 409, 'already registered');

    expect((await api('GET', `/api/v1/devices/${uuid}`)).body.device).toEqual(device);
    expect((await keyById(created.id)).uses).toBe(1);
    expect((await keyById(other.provisioning_key.id)).uses).toBe(0);
    // The first token still works; no other was made.
    expect((await api('GET', `/api/v1/devices/${uuid}/state`, { token: first.body.device_token })).status).toBe(200);
  });

  it('lets exactly max_uses of many concurrent provisions through; the others are 403 used up', async () => {
    const { provisioning_key: created, key } = await createKey({ max_uses: 3 });
    const before = await allDeviceUuids();
    const uuids = Array.from({ length: 10 }, (_, i) => `race-${i}-${randomUUID()}`);
    const results = await Promise.all(uuids.map((uuid) => provision(key, { uuid, name: uuid, apps })));
    const succeeded = results.filter((r) => r.status === 201);
    expect(succeeded).toHaveLength(3);
    for (const refused of results.filter((r) => r.status !== 201)) expectError(refused, 403, 'used up');
    expect((await keyById(created.id)).uses).toBe(3);
    const registered = succeeded.map((r) => r.body.device.uuid).sort();
    expect(await allDeviceUuids()).toEqual([...before, ...registered].sort());

    expectError(await provision(key, { uuid: `late-${randomUUID()}`, name: 'late', apps }), 403, 'used up', created.id);
  });

  it('refuses an unknown, forged, revoked or expired key with 401 and any other credential, writing nothing', async () => {
    const revoked = await createKey();
    expect((await api('DELETE', `/api/v1/provisioning-keys/${revoked.provisioning_key.id}`)).status).toBe(204);
    const expiring = await createKey({ expires_at: new Date(Date.now() + 1500).toISOString() });
    const admin = await api('POST', '/api/v1/devices', { body: { name: 'a device', apps } });
    await new Promise((resolve) => setTimeout(resolve, 1600));

    const before = await allDeviceUuids();
    const keysBefore = await allKeys();
    const forged = `${revoked.key.split('.')[0]}.${randomBytes(32).toString('base64url')}`;
    const attempts: [string, string | null, number, string][] = [
      ['no credential', null, 401, 'Authorization'],
      ['garbage', 'garbage', 401, 'provisioning key'],
      ['a key never issued', `fpk_${'0'.repeat(26)}.${randomBytes(32).toString('base64url')}`, 401, 'unknown provisioning key'],
      ['a forged secret for a real id', forged, 401, 'unknown provisioning key'],
      ['a revoked key', revoked.key, 401, 'revoked'],
      ['an expired key', expiring.key, 401, 'expired'],
      ['the admin key', host.adminApiKey, 401, 'provisioning key'],
      ['a device token', admin.body.device_token, 401, 'provisioning key'],
    ];
    for (const [what, token, status, mention] of attempts) {
      const result = await api('POST', '/api/v1/devices/provision', { token, body: { uuid: `refused-${randomUUID()}`, name: what, apps } });
      expect(result.status, what).toBe(status);
      expectError(result, status, mention);
    }
    expect(await allDeviceUuids()).toEqual(before);
    expect(await allKeys()).toEqual(keysBefore);
  });

  it('refuses a bad body with 400 naming the problem, and uses no use', async () => {
    const { provisioning_key: created, key } = await createKey({ max_uses: 1 });
    const before = await allDeviceUuids();
    const bad: [Record<string, unknown>, string][] = [
      [{ name: 'no apps' }, 'apps'],
      [{ name: 'bad image', apps: [{ name: 'app', image: 'Not An Image!' }] }, 'apps[0].image'],
      [{ name: 'bad port', apps: [{ ...apps[0], container: { ports: ['99999:80'] } }] }, 'apps[0].container.ports[0]'],
      [{ uuid: 'provision', name: 'route name', apps }, 'uuid'],
      [{ name: 'extra', apps, owner: 'me' }, 'owner'],
    ];
    for (const [body, mention] of bad) expectError(await provision(key, body), 400, mention);
    expect(await allDeviceUuids()).toEqual(before);
    expect((await keyById(created.id)).uses).toBe(0);
    expect((await provision(key, { name: 'good at last', apps })).status).toBe(201);
  });
});
