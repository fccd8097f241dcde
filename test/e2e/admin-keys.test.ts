/**
 * Named admin keys through the HTTP API on the embedded host: each is shown once, listed without
 * any secret, works on admin routes as the principal it names, and stops working the moment it is
 * revoked. Names are unique among unrevoked keys, also against requests that race; a refused
 * request writes nothing; the host's configured key is a principal too, and cannot be revoked.
 */
import { createHash } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHost, type Host } from '../../infra/embedded/host';
import { apiClient, expectError } from '../support/api';
import { tableSnapshot } from '../support/table';

let host: Host;
let api: ReturnType<typeof apiClient>;
let dynamo: DynamoDBClient;

beforeAll(async () => {
  host = await startHost({ port: 0, dataDir: ':memory:', quiet: true });
  api = apiClient(host.url, host.adminApiKey);
  dynamo = new DynamoDBClient({ region: 'us-east-1', credentials: { accessKeyId: 'test', secretAccessKey: 'test' }, endpoint: host.endpoints.dynamodb });
});

afterAll(async () => {
  dynamo?.destroy();
  await host?.stop();
});

async function create(name: string, token?: string) {
  const created = await api('POST', '/api/v1/admin-keys', { body: { name }, ...(token ? { token } : {}) });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  return created.body as { admin_key: { id: string; name: string; created_by: { key_id: string; name: string } }; key: string };
}

async function listAll(): Promise<any[]> {
  const all: any[] = [];
  let cursor: string | null = null;
  do {
    const { status, body }: { status: number; body: any } = await api('GET', `/api/v1/admin-keys?limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
    expect(status).toBe(200);
    all.push(...body.admin_keys);
    cursor = body.next_cursor;
  } while (cursor);
  return all;
}

const scanTable = () => tableSnapshot(dynamo, host.tableName);

describe('named admin keys', () => {
  it('shows a key once, lists it without any secret, and lets it call admin routes as its own principal', async () => {
    const alice = await create('alice@example.com');
    expect(alice.key).toMatch(/^fra_[0-9a-z]{26}\.[A-Za-z0-9_-]{43}$/);
    expect(alice.admin_key).toEqual({
      id: expect.stringMatching(/^ak_[0-9a-z]{26}$/),
      name: 'alice@example.com',
      created_at: expect.any(String),
      // Made with the host's configured key.
      created_by: { key_id: 'host', name: 'host' },
      revoked_at: null,
      revoked_by: null,
    });
    expect(alice.key.slice(4, 30)).toBe(alice.admin_key.id.slice(3));

    // The key works on every kind of admin route, and what it makes says who made it.
    expect((await api('GET', '/api/v1/devices', { token: alice.key })).status).toBe(200);
    const policy = await api('POST', '/api/v1/policies', { token: alice.key, body: { image_pattern: 'acme/keys:*' } });
    expect(policy.status).toBe(201);
    const ci = await create('ci deploy', alice.key);
    expect(ci.admin_key.created_by).toEqual({ key_id: alice.admin_key.id, name: 'alice@example.com' });

    const listed = await listAll();
    expect(listed.map((k) => k.id)).toEqual(expect.arrayContaining([alice.admin_key.id, ci.admin_key.id]));
    const text = JSON.stringify(listed);
    for (const secret of [alice.key, ci.key, host.adminApiKey]) {
      expect(text).not.toContain(secret);
      expect(text).not.toContain(createHash('sha256').update(secret).digest('hex'));
    }
    for (const key of listed) expect(Object.keys(key).sort()).toEqual(['created_at', 'created_by', 'id', 'name', 'revoked_at', 'revoked_by']);
    // The configured key is not a listed key.
    expect(listed.some((k) => k.id === 'host' || k.id === 'bootstrap')).toBe(false);
  });

  it('refuses a revoked key on the very next request, and keeps it listed with who revoked it', async () => {
    const bob = await create('bob');
    const carol = await create('carol');
    expect((await api('GET', '/api/v1/rollouts', { token: bob.key })).status).toBe(200);

    const revoked = await api('DELETE', `/api/v1/admin-keys/${bob.admin_key.id}`, { token: carol.key });
    expect(revoked.status).toBe(204);
    expectError(await api('GET', '/api/v1/rollouts', { token: bob.key }), 401);
    expectError(await api('POST', '/api/v1/admin-keys', { token: bob.key, body: { name: 'bob again' } }), 401);
    // A key may revoke itself; it is then refused like any other.
    expect((await api('DELETE', `/api/v1/admin-keys/${carol.admin_key.id}`, { token: carol.key })).status).toBe(204);
    expectError(await api('GET', '/api/v1/admin-keys', { token: carol.key }), 401);

    const listed = await listAll();
    expect(listed.find((k) => k.id === bob.admin_key.id)).toMatchObject({
      name: 'bob',
      revoked_at: expect.any(String),
      revoked_by: { key_id: carol.admin_key.id, name: 'carol' },
    });
    // Revoking again changes nothing; an id nothing has is a 404.
    expect((await api('DELETE', `/api/v1/admin-keys/${bob.admin_key.id}`)).status).toBe(204);
    expect((await listAll()).find((k) => k.id === bob.admin_key.id).revoked_by.key_id).toBe(carol.admin_key.id);
    expectError(await api('DELETE', '/api/v1/admin-keys/ak_01jz0000000000000000000000'), 404, 'ak_01jz0000000000000000000000');
    expectError(await api('DELETE', '/api/v1/admin-keys/nope'), 404, 'nope');
  });

  it('keeps names unique among unrevoked keys, whatever their case, and frees a name with its revocation', async () => {
    const dave = await create('dave');
    const clash = await api('POST', '/api/v1/admin-keys', { body: { name: 'Dave' } });
    expectError(clash, 409, 'dave', dave.admin_key.id);

    expect((await api('DELETE', `/api/v1/admin-keys/${dave.admin_key.id}`)).status).toBe(204);
    const again = await create('Dave');
    expect(again.admin_key.id).not.toBe(dave.admin_key.id);
    expect((await api('GET', '/api/v1/devices', { token: again.key })).status).toBe(200);
  });

  it('lets one of several requests racing for a name have it', async () => {
    const answers = await Promise.all(Array.from({ length: 6 }, () => api('POST', '/api/v1/admin-keys', { body: { name: 'erin' } })));
    expect(answers.map((a) => a.status).sort()).toEqual([201, 409, 409, 409, 409, 409]);
    const named = (await listAll()).filter((k) => k.name === 'erin');
    expect(named).toHaveLength(1);
    expect(named[0].id).toBe(answers.find((a) => a.status === 201)!.body.admin_key.id);
  });

  it('refuses bad bodies with a 400 naming the problem, and writes nothing', async () => {
    const before = await scanTable();
    const bad: [unknown, string][] = [
      [{}, 'name'],
      [{ name: '' }, 'name'],
      [{ name: 'x'.repeat(65) }, 'name'],
      [{ name: ' padded' }, 'name'],
      [{ name: 'trailing ' }, 'name'],
      [{ name: 'semi;colon' }, 'name'],
      [{ name: 42 }, 'name'],
      [{ name: 'frank', admin: true }, 'admin'],
      [['frank'], 'object'],
    ];
    for (const [body, mention] of bad) expectError(await api('POST', '/api/v1/admin-keys', { body }), 400, mention);
    expectError(await api('POST', '/api/v1/admin-keys', { rawBody: '{"name":' }), 400, 'JSON');
    expectError(await api('GET', '/api/v1/admin-keys?limit=0'), 400, 'limit');
    expectError(await api('GET', '/api/v1/admin-keys?cursor=bogus'), 400);
    expect(await scanTable()).toEqual(before);
  });

  it("keeps the host's configured key a principal that cannot be revoked, nor its name taken", async () => {
    const before = await scanTable();
    expectError(await api('DELETE', '/api/v1/admin-keys/host'), 409, 'host', 'admin-api-key');
    expectError(await api('DELETE', '/api/v1/admin-keys/bootstrap'), 409, 'bootstrap', 'Secrets Manager');
    expectError(await api('POST', '/api/v1/admin-keys', { body: { name: 'Host' } }), 409, 'reserved');
    expectError(await api('POST', '/api/v1/admin-keys', { body: { name: 'bootstrap' } }), 409, 'reserved');
    expect(await scanTable()).toEqual(before);
    expect((await api('GET', '/api/v1/admin-keys')).status).toBe(200);
  });

  it('refuses a key shaped like a named one that names no key, or names one with another secret', async () => {
    const grace = await create('grace');
    const forged = `${grace.key.slice(0, grace.key.indexOf('.') + 1)}${'A'.repeat(43)}`;
    expectError(await api('GET', '/api/v1/devices', { token: forged }), 401);
    expectError(await api('GET', '/api/v1/devices', { token: `fra_${'0'.repeat(26)}.${'A'.repeat(43)}` }), 401);
    expect((await api('GET', '/api/v1/devices', { token: grace.key })).status).toBe(200);
  });
});
