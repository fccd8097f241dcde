/**
 * Registries as configuration, through the HTTP API of the embedded host: each registry its own
 * webhook URL, secret (shown once, stored as a hash), host aliases and rate limit; the default
 * registries working as before; a delivery posted again changing nothing, for every kind; and
 * ECR pushes arriving through the default bus's rule.
 */
import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetSecretValueCommand, ResourceNotFoundException, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHost, type Host } from '../../infra/embedded/host';
import { registries, type WebhookKind } from '../../lib/registry';
import { expectError, type ApiResult } from '../support/api';
import { flow } from '../support/flow';
import { tableSnapshot } from '../support/table';

let host: Host;
let f: ReturnType<typeof flow>;
let dynamo: DynamoDBClient;

beforeAll(async () => {
  host = await startHost({ port: 0, dataDir: ':memory:', tickSeconds: 1, quiet: true });
  f = flow(host);
  dynamo = new DynamoDBClient({ region: 'us-east-1', credentials: { accessKeyId: 'test', secretAccessKey: 'test' }, endpoint: host.endpoints.dynamodb });
});

afterAll(async () => {
  dynamo?.destroy();
  await host?.stop();
});

const scanTable = () => tableSnapshot(dynamo, host.tableName);

/** A loopback port nothing listens on (it was free a moment ago). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

let serial = 0;
const unique = (what: string) => `${what}-${++serial}`;
const digest = () => `sha256:${randomBytes(32).toString('hex')}`;

async function createRegistry(body: Record<string, unknown>): Promise<{ registry: any; secret: string }> {
  const created = await f.api('POST', '/api/v1/registries', { body });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  return created.body;
}

/** A manual policy for the repository, so that a push makes a rollout that waits and writes nothing more. */
const manualPolicy = (repository: string) => f.createPolicy({ image_pattern: `${repository}:*`, update_strategy: 'manual' });

/** How each kind sends a delivery: where its secret goes, and its body. */
interface Delivery {
  path: string;
  token: string | null;
  body: unknown;
  headers?: Record<string, string>;
  /** The repository as devices pull it, where the kind's payload names another host than the push's. */
  repository?: string;
}

type DeliveryOf = (registry: string, secret: string, push: { repository: string; tag: string; digest?: string; id?: string; host?: string }) => Delivery;

const deliveryOf: Record<WebhookKind, DeliveryOf> = {
  'docker-hub': (registry, secret, push) => ({
    path: `/api/v1/webhooks/${registry}?token=${encodeURIComponent(secret)}`,
    token: null,
    body: { push_data: { tag: push.tag, pushed_at: 1_767_225_600, pusher: 'ci' }, repository: { repo_name: push.repository } },
  }),
  distribution: (registry, secret, push) => ({
    path: `/api/v1/webhooks/${registry}`,
    token: secret,
    body: {
      events: [
        {
          id: push.id ?? randomUUID(),
          timestamp: '2026-01-01T00:00:00.000Z',
          action: 'push',
          target: { mediaType: 'application/vnd.oci.image.manifest.v1+json', repository: push.repository, tag: push.tag, ...(push.digest ? { digest: push.digest } : {}) },
          ...(push.host ? { request: { host: push.host } } : {}),
        },
      ],
    },
  }),
  ghcr: (registry, secret, push) => {
    const [owner, name] = push.repository.split('/') as [string, string];
    // GitHub always names the digest.
    const body = { action: 'published', package: { name, package_type: 'CONTAINER', owner: { login: owner }, package_version: { container_metadata: { tag: { name: push.tag, digest: push.digest ?? digestFor(push.tag) } } } } };
    const signature = `sha256=${createHmac('sha256', secret).update(JSON.stringify(body)).digest('hex')}`;
    return { path: `/api/v1/webhooks/${registry}`, token: null, body, headers: { 'x-github-event': 'package', 'x-github-delivery': push.id ?? randomUUID(), 'x-hub-signature-256': signature }, repository: `ghcr.io/${push.repository}` };
  },
  harbor: (registry, secret, push) => {
    const [namespace, name] = push.repository.split('/') as [string, string];
    return {
      path: `/api/v1/webhooks/${registry}`,
      token: secret,
      body: {
        type: 'PUSH_ARTIFACT',
        occur_at: 1_767_225_600,
        event_data: { resources: [{ tag: push.tag, ...(push.digest ? { digest: push.digest } : {}), resource_url: `harbor.example.com/${push.repository}:${push.tag}` }], repository: { name, namespace, repo_full_name: push.repository } },
      },
      repository: `harbor.example.com/${push.repository}`,
    };
  },
  quay: (registry, secret, push) => {
    const [namespace, name] = push.repository.split('/') as [string, string];
    // Quay names no digest, whatever was pushed.
    return { path: `/api/v1/webhooks/${registry}?token=${encodeURIComponent(secret)}`, token: null, body: { repository: push.repository, namespace, name, docker_url: `quay.io/${push.repository}`, updated_tags: [push.tag] }, repository: `quay.io/${push.repository}` };
  },
  gitlab: (registry, secret, push) => ({ ...deliveryOf.distribution(registry, secret, push), path: `/api/v1/webhooks/${registry}` }),
  acr: (registry, secret, push) => ({
    path: `/api/v1/webhooks/${registry}`,
    token: secret,
    body: {
      id: push.id ?? randomUUID(),
      timestamp: '2026-01-01T00:00:00.000Z',
      action: 'push',
      target: { mediaType: 'application/vnd.docker.distribution.manifest.v2+json', repository: push.repository, tag: push.tag, ...(push.digest ? { digest: push.digest } : {}) },
      request: { host: 'lab.azurecr.io' },
    },
    repository: `lab.azurecr.io/${push.repository}`,
  }),
  jfrog: (registry, secret, push) => ({
    path: `/api/v1/webhooks/${registry}`,
    token: null,
    // Artifactory always names the digest.
    body: { domain: 'docker', event_type: 'pushed', data: { repo_key: 'docker-local', image_name: push.repository, tag: push.tag, sha256: (push.digest ?? digestFor(push.tag)).slice('sha256:'.length) }, jpd_origin: 'https://lab.jfrog.io' },
    headers: { 'x-jfrog-event-auth': secret },
    repository: `lab.jfrog.io/docker-local/${push.repository}`,
  }),
};

/** A digest that is the same for the same tag, for kinds that always name one (so a replay is the same delivery). */
function digestFor(tag: string): string {
  return `sha256:${createHmac('sha256', 'fixed').update(tag).digest('hex')}`;
}

const deliver = (d: Delivery): Promise<ApiResult> => f.api('POST', d.path, { token: d.token, headers: d.headers ?? {}, rawBody: JSON.stringify(d.body) });

describe('configuring a registry', () => {
  it('answers its secret once, on the create; reads never show it, and the table holds only its hash', async () => {
    const before = await f.api('GET', '/api/v1/registries');
    expect(before.status).toBe(200);
    expect(before.body.defaults.map((r: any) => [r.name, r.kind, r.secret_kept_as])).toEqual([
      ['docker-registry', 'docker-hub', 'global'],
      ['distribution', 'distribution', 'global'],
    ]);

    const { registry, secret } = await createRegistry({ name: 'lab', kind: 'docker-hub' });
    expect(secret).toMatch(/^frw_[A-Za-z0-9_-]{43}$/);
    expect(registry).toMatchObject({
      name: 'lab',
      kind: 'docker-hub',
      source: 'configured',
      webhook_url: `${host.url}/api/v1/webhooks/lab`,
      host_aliases: {},
      rate_limit_per_minute: 120,
      secret_kept_as: 'sha256',
      created_by: { key_id: 'host' },
    });

    const read = await f.api('GET', '/api/v1/registries/lab');
    expect(read.status).toBe(200);
    expect(read.body).toEqual({ registry });
    const listed = await f.api('GET', '/api/v1/registries');
    expect(listed.body.registries.map((r: any) => r.name)).toContain('lab');
    for (const answer of [read, listed]) expect(JSON.stringify(answer.body)).not.toContain(secret);
    expect((await scanTable()).join('\n')).not.toContain(secret);
  });

  it('refuses a second registry of the same name with 409, and changes nothing', async () => {
    await createRegistry({ name: 'dup', kind: 'distribution' });
    const before = await scanTable();
    expectError(await f.api('POST', '/api/v1/registries', { body: { name: 'dup', kind: 'docker-hub' } }), 409, 'dup');
    expect(await scanTable()).toEqual(before);
    expect((await f.api('GET', '/api/v1/registries/dup')).body.registry.kind).toBe('distribution');
  });

  it.each([
    ['a name that is not a slug', { name: 'Lab_1', kind: 'docker-hub' }, 'name'],
    ['a name with a slash', { name: 'a/b', kind: 'docker-hub' }, 'name'],
    ['an unknown kind', { name: 'k1', kind: 'docker-hubb' }, 'kind must be one of docker-hub, distribution'],
    ['no kind', { name: 'k2' }, 'kind'],
    ['a short secret', { name: 'k3', kind: 'docker-hub', secret: 'short' }, 'secret'],
    ['an alias from no host', { name: 'k4', kind: 'distribution', host_aliases: { 'not a host': 'registry.lan:5000' } }, 'host_aliases.not a host'],
    ['an alias to no host', { name: 'k5', kind: 'distribution', host_aliases: { 'localhost:5000': 'https://registry.lan' } }, 'host_aliases.localhost:5000'],
    ['aliases as a list', { name: 'k6', kind: 'distribution', host_aliases: [{ from: 'localhost:5000', to: 'registry.lan:5000' }] }, 'host_aliases'],
    ['a rate limit of 0', { name: 'k7', kind: 'docker-hub', rate_limit_per_minute: 0 }, 'rate_limit_per_minute'],
    ['a fractional rate limit', { name: 'k8', kind: 'docker-hub', rate_limit_per_minute: 1.5 }, 'rate_limit_per_minute'],
    ['a secret for ECR', { name: 'k9', kind: 'ecr', secret: 'a-long-enough-secret-1234' }, 'secret'],
    ['an unknown field', { name: 'k10', kind: 'docker-hub', token: 'x' }, 'token is not a known field'],
  ])('refuses %s with a 400 naming the field, and writes nothing', async (_what, body, names) => {
    const before = await scanTable();
    expectError(await f.api('POST', '/api/v1/registries', { body }), 400, names);
    expect(await scanTable()).toEqual(before);
  });
});

describe('pull credentials for the digest look-up', () => {
  const sm = () => new SecretsManagerClient({ region: 'us-east-1', credentials: { accessKeyId: 'test', secretAccessKey: 'test' }, endpoint: host.endpoints.secretsManager });
  const password = 'a-private-pull-token-9f3c';
  const storedCredentials = async (name: string) => {
    const item = (await scanTable()).map((line) => JSON.parse(line)).find((i) => i.pk?.S === `REGISTRY#${name}` && i.sk?.S === 'REGISTRY');
    return item?.pull_credentials?.M as Record<string, { S: string }> | undefined;
  };
  const passwordKept = async (secretId: string, versionId: string) => (await sm().send(new GetSecretValueCommand({ SecretId: secretId, VersionId: versionId }))).SecretString;

  it('keeps the password write-only: answers show the username, the table where the password is, the secret store the password', async () => {
    const { registry } = await createRegistry({ name: 'quay-lab', kind: 'quay', api_url: 'https://quay.example.com/', pull_credentials: { username: 'robot+ci', password } });
    expect(registry).toMatchObject({ api_url: 'https://quay.example.com', pull_credentials: { username: 'robot+ci' } });
    const read = await f.api('GET', '/api/v1/registries/quay-lab');
    expect(read.body).toEqual({ registry });
    const listed = await f.api('GET', '/api/v1/registries');
    for (const answer of [read, listed]) expect(JSON.stringify(answer.body)).not.toContain(password);
    expect((await scanTable()).join('\n')).not.toContain(password);

    const stored = await storedCredentials('quay-lab');
    expect(stored?.username?.S).toBe('robot+ci');
    expect(stored?.secret_id?.S).toMatch(/quay-lab\/pull$/);
    expect(await passwordKept(stored!.secret_id!.S, stored!.version_id!.S)).toBe(password);

    // A new password is a new version; null removes the credentials and the secret.
    const changed = await f.api('PATCH', '/api/v1/registries/quay-lab', { body: { pull_credentials: { username: 'robot+ci', password: `${password}-2` } } });
    expect(changed.status).toBe(200);
    const restored = await storedCredentials('quay-lab');
    expect(restored?.version_id?.S).not.toBe(stored?.version_id?.S);
    expect(await passwordKept(restored!.secret_id!.S, restored!.version_id!.S)).toBe(`${password}-2`);
    const removed = await f.api('PATCH', '/api/v1/registries/quay-lab', { body: { pull_credentials: null, api_url: null } });
    expect(removed.body.registry).toMatchObject({ api_url: null, pull_credentials: null });
    expect(await storedCredentials('quay-lab')).toBeUndefined();
    await expect(passwordKept(restored!.secret_id!.S, restored!.version_id!.S)).rejects.toThrow(ResourceNotFoundException);
  });

  it('deletes the password with the registry', async () => {
    await createRegistry({ name: 'hub-private', kind: 'docker-hub', pull_credentials: { username: 'ci', password } });
    const stored = await storedCredentials('hub-private');
    expect((await f.api('DELETE', '/api/v1/registries/hub-private')).status).toBe(204);
    await expect(passwordKept(stored!.secret_id!.S, stored!.version_id!.S)).rejects.toThrow(ResourceNotFoundException);
  });

  it('reads the password for a look-up, and a look-up that fails rolls the push out by tag saying why', async () => {
    const repository = unique('quay.example.com/team/app');
    await manualPolicy(repository);
    // Nothing listens on the port: the look-up is made, with the credentials, and fails.
    const closed = await closedPort();
    const { secret } = await createRegistry({ name: 'quay-down', kind: 'quay', host: 'quay.example.com', api_url: `http://127.0.0.1:${closed}`, pull_credentials: { username: 'ci', password } });
    const answer = await f.api('POST', `/api/v1/webhooks/quay-down?token=${secret}`, { token: null, body: { docker_url: repository, updated_tags: ['v1'] } });
    expect(answer.status, JSON.stringify(answer.body)).toBe(202);
    expect(answer.body.rollouts).toEqual([expect.objectContaining({ image: `${repository}:v1` })]);
    expect(answer.body.pushes[0]).toMatchObject({ digest: null, digest_unresolved: expect.stringContaining(`http://127.0.0.1:${closed}`) });
    // Planned before the next test takes its snapshot of the table.
    await f.waitForRollout(answer.body.rollouts[0].id, (d) => d.rollout.planned, 'the rollout planned');
  });

  it.each([
    ['pull credentials for a kind that sends digests', { name: 'pc1', kind: 'ghcr', pull_credentials: { username: 'u', password: 'p' } }, 'pull_credentials: a registry of kind ghcr names the digest of each push itself'],
    ['an api_url for a kind that sends digests', { name: 'pc2', kind: 'distribution', api_url: 'https://registry.example.com' }, 'api_url: a registry of kind distribution'],
    ['an api_url that is not http(s)', { name: 'pc3', kind: 'quay', api_url: 'ftp://quay.example.com' }, 'api_url must be an http(s) URL of a registry API, such as https://registry.example.com: not http or https'],
    ['an api_url with credentials in it', { name: 'pc4', kind: 'quay', api_url: 'https://u:p@quay.example.com' }, 'credentials do not belong in the URL'],
    ['a username with a colon', { name: 'pc5', kind: 'quay', pull_credentials: { username: 'a:b', password: 'p' } }, 'pull_credentials.username'],
    ['no password', { name: 'pc6', kind: 'docker-hub', pull_credentials: { username: 'ci' } }, 'pull_credentials.password'],
    ['an unknown credentials field', { name: 'pc7', kind: 'docker-hub', pull_credentials: { username: 'ci', password: 'p', token: 'x' } }, 'token is not a known field'],
  ])('refuses %s with a 400 naming it, and writes nothing', async (_what, body, names) => {
    const before = await scanTable();
    expectError(await f.api('POST', '/api/v1/registries', { body }), 400, names);
    expect(await scanTable()).toEqual(before);
  });

  it('refuses a change that gives pull credentials to a kind that sends digests, writing nothing', async () => {
    await createRegistry({ name: 'harbor-lab', kind: 'harbor' });
    const before = await scanTable();
    expectError(await f.api('PATCH', '/api/v1/registries/harbor-lab', { body: { pull_credentials: { username: 'u', password: 'p' } } }), 400, 'pull_credentials: a registry of kind harbor');
    expect(await scanTable()).toEqual(before);
  });
});

describe('pushes to a registry', () => {
  it("roll out under the registry's name, with its host alias applied to the image", async () => {
    const { secret } = await createRegistry({ name: 'lan', kind: 'distribution', host_aliases: { 'LOCALHOST:5000': 'registry.lan:5000' } });
    expect((await f.api('GET', '/api/v1/registries/lan')).body.registry.host_aliases).toEqual({ 'localhost:5000': 'registry.lan:5000' });
    await manualPolicy('registry.lan:5000/team/app');
    const pushed = digest();
    const answer = await deliver(deliveryOf.distribution('lan', secret, { repository: 'team/app', tag: 'v2', digest: pushed, host: 'localhost:5000' }));
    expect(answer.status, JSON.stringify(answer.body)).toBe(202);
    expect(answer.body.rollouts).toHaveLength(1);
    expect(answer.body.rollouts[0].image).toBe(`registry.lan:5000/team/app:v2@${pushed}`);
    const { rollout } = await f.rollout(answer.body.rollouts[0].id);
    expect(rollout).toMatchObject({ registry: 'lan', repository: 'registry.lan:5000/team/app', tag: 'v2', digest: pushed });
    const [received] = (await f.events(rollout.id)).filter((e) => e.type === 'image.webhook_received');
    expect(received.details).toMatchObject({ registry: 'lan', repository: 'registry.lan:5000/team/app' });
    // Planned before the next test compares the table.
    await f.waitForRollout(rollout.id, (d) => d.rollout.planned === true, 'planned');
  });

  it('refuses a wrong or missing secret, the global webhook secret, or another registry’s secret, with 401, writing nothing', async () => {
    const { secret } = await createRegistry({ name: 'strict', kind: 'docker-hub' });
    const other = await createRegistry({ name: 'strict-other', kind: 'docker-hub' });
    await manualPolicy('acme/strict');
    const before = await scanTable();
    for (const presented of [`${secret}x`, '', host.webhookSecret, other.secret]) {
      // Wrong or missing, the answer says where the secret belongs (it is kept as a hash; the check says so all the same).
      expectError(await deliver(deliveryOf['docker-hub']('strict', presented, { repository: 'acme/strict', tag: 'v1' })), 401, 'add ?token=<secret> to the webhook URL');
    }
    expectError(await f.api('POST', '/api/v1/webhooks/strict', { token: secret, body: { push_data: { tag: 'v1' }, repository: { repo_name: 'acme/strict' } } }), 401, '?token=');
    expect(await scanTable()).toEqual(before);
    expect((await deliver(deliveryOf['docker-hub']('strict', secret, { repository: 'acme/strict', tag: 'v1' }))).status).toBe(202);
  });

  it('after a rotation take the new secret only; after a delete, the URL is a 404 naming no other registry', async () => {
    const { secret: old } = await createRegistry({ name: 'rotating', kind: 'distribution' });
    await manualPolicy('acme/rotating');
    const rotated = await f.api('PATCH', '/api/v1/registries/rotating', { body: { rotate_secret: true } });
    expect(rotated.status, JSON.stringify(rotated.body)).toBe(200);
    const fresh: string = rotated.body.secret;
    expect(fresh).toMatch(/^frw_/);
    expect(fresh).not.toBe(old);
    expect(rotated.body.registry.secret_rotated_at).toEqual(expect.any(String));
    expect(JSON.stringify((await f.api('GET', '/api/v1/registries/rotating')).body)).not.toContain(fresh);

    // In this process the admin API's change is seen at once (the cache forgets on a local write).
    expectError(await deliver(deliveryOf.distribution('rotating', old, { repository: 'acme/rotating', tag: 'v1' })), 401);
    expect((await deliver(deliveryOf.distribution('rotating', fresh, { repository: 'acme/rotating', tag: 'v1' }))).status).toBe(202);

    // A secret of one's own, then the other fields, keep what is not named.
    const given = 'my-own-secret-for-rotating-0001';
    const set = await f.api('PATCH', '/api/v1/registries/rotating', { body: { secret: given, rate_limit_per_minute: 30 } });
    expect(set.body).toMatchObject({ secret: given, registry: { rate_limit_per_minute: 30 } });
    const aliases = await f.api('PATCH', '/api/v1/registries/rotating', { body: { host_aliases: { 'localhost:5000': 'registry.lan:5000' } } });
    expect(aliases.body.secret).toBeUndefined();
    expect(aliases.body.registry).toMatchObject({ rate_limit_per_minute: 30, host_aliases: { 'localhost:5000': 'registry.lan:5000' } });
    expect((await deliver(deliveryOf.distribution('rotating', given, { repository: 'acme/rotating', tag: 'v2' }))).status).toBe(202);
    expectError(await f.api('PATCH', '/api/v1/registries/rotating', { body: { secret: given, rotate_secret: true } }), 400, 'secret and rotate_secret');

    expect((await f.api('DELETE', '/api/v1/registries/rotating')).status).toBe(204);
    const gone = await deliver(deliveryOf.distribution('rotating', given, { repository: 'acme/rotating', tag: 'v3' }));
    expectError(gone, 404, 'no registry named "rotating"');
    expect(gone.body.error.message).not.toContain('lab');
    expectError(await f.api('GET', '/api/v1/registries/rotating'), 404);
    expectError(await f.api('DELETE', '/api/v1/registries/rotating'), 404);
    expectError(await f.api('POST', `/api/v1/webhooks/never-made?token=x`, { token: null, body: {} }), 404, 'no registry named "never-made"');
  });
});

describe('the default registries', () => {
  it('take the global webhook secret as before, and refuse a configured registry’s', async () => {
    const { secret } = await createRegistry({ name: 'not-default', kind: 'docker-hub' });
    await manualPolicy('acme/defaults');
    const pushed = await f.push('acme/defaults', 'v1');
    expect(pushed.status).toBe(202);
    const delivered = await deliver(deliveryOf.distribution('distribution', host.webhookSecret, { repository: 'acme/defaults', tag: 'v2', digest: digest() }));
    expect(delivered.status).toBe(202);
    expectError(await deliver(deliveryOf['docker-hub']('docker-registry', secret, { repository: 'acme/defaults', tag: 'v3' })), 401);
    expect((await f.api('GET', '/api/v1/registries/docker-registry')).body.registry).toMatchObject({ source: 'default', kind: 'docker-hub', webhook_url: `${host.url}/api/v1/webhooks/docker-registry` });
    expectError(await f.api('PATCH', '/api/v1/registries/docker-registry', { body: { rate_limit_per_minute: 10 } }), 404, 'create a registry named docker-registry');
    // Nothing configured to delete: the default's rate bucket (its pushes above made it) stays too.
    // The two rollouts are planned first, so what the table holds stops changing before it is compared.
    for (const { rollouts } of [pushed.body, delivered.body]) {
      await f.waitForRollout(rollouts[0].id, (d) => d.rollout.status_reason === 'waiting for an admin to start it', 'planned');
    }
    const before = await scanTable();
    expect(before.some((item) => item.includes('RATELIMIT#docker-registry'))).toBe(true);
    expectError(await f.api('DELETE', '/api/v1/registries/docker-registry'), 404, 'docker-registry');
    expect(await scanTable()).toEqual(before);
  });

  it('are replaced by a configured registry of their name, and come back when it is deleted', async () => {
    await manualPolicy('acme/replaced');
    const { secret } = await createRegistry({ name: 'distribution', kind: 'distribution' });
    expect((await f.api('GET', '/api/v1/registries')).body.defaults.map((r: any) => r.name)).toEqual(['docker-registry']);
    expectError(await deliver(deliveryOf.distribution('distribution', host.webhookSecret, { repository: 'acme/replaced', tag: 'v1' })), 401);
    expect((await deliver(deliveryOf.distribution('distribution', secret, { repository: 'acme/replaced', tag: 'v1' }))).status).toBe(202);
    expect((await f.api('DELETE', '/api/v1/registries/distribution')).status).toBe(204);
    expect((await deliver(deliveryOf.distribution('distribution', host.webhookSecret, { repository: 'acme/replaced', tag: 'v2' }))).status).toBe(202);
  });
});

describe('a delivery posted again', () => {
  /** Each kind's deliveries: with and without a digest where the kind can send one. */
  const cases: [string, WebhookKind, boolean][] = (Object.keys(registries) as WebhookKind[]).flatMap((kind): [string, WebhookKind, boolean][] => [
    [`${kind}, without a digest`, kind, false],
    ...(kind === 'docker-hub' ? [] : [[`${kind}, with a digest`, kind, true] as [string, WebhookKind, boolean]]),
  ]);

  it('has a delivery for every kind of registry', () => {
    expect(Object.keys(deliveryOf).sort()).toEqual(Object.keys(registries).sort());
  });

  it.each(cases)('%s: makes no second rollout and no second event, whether it comes after the first or beside it', async (_what, kind, withDigest) => {
    const name = unique(`replay-${kind}`);
    const repository = `acme/${name}`;
    const { secret } = await createRegistry({ name, kind });
    const delivery = deliveryOf[kind](name, secret, { repository, tag: 'v1', id: randomUUID(), ...(withDigest ? { digest: digest() } : {}) });
    await manualPolicy(delivery.repository ?? repository);

    const first = await deliver(delivery);
    expect(first.status, JSON.stringify(first.body)).toBe(202);
    const [rollout] = first.body.rollouts;
    await f.waitForRollout(rollout.id, (d) => d.rollout.planned === true, 'planned');
    const events = await f.events(rollout.id);
    const again = await Promise.all([deliver(delivery), deliver(delivery), deliver(delivery)]);
    for (const answer of again) {
      expect(answer.status).toBe(202);
      expect(answer.body).toEqual(first.body);
    }
    const listed = await f.api('GET', `/api/v1/rollouts?image_name=${encodeURIComponent(delivery.repository ?? repository)}`);
    expect(listed.body.rollouts.map((r: any) => r.id)).toEqual([rollout.id]);
    expect(await f.events(rollout.id)).toEqual(events);
  });
});

describe('the rate limit', () => {
  it('answers 429 with Retry-After past the limit, writing nothing of the delivery, and accepts again after the wait', async () => {
    const { secret } = await createRegistry({ name: 'slow', kind: 'docker-hub', rate_limit_per_minute: 2 });
    await manualPolicy('acme/slow');
    const push = (tag: string) => deliver(deliveryOf['docker-hub']('slow', secret, { repository: 'acme/slow', tag }));
    for (const tag of ['v1', 'v2']) {
      const answer = await push(tag);
      expect(answer.status).toBe(202);
      // Planned, so that nothing but the refused delivery could change the table below.
      await f.waitForRollout(answer.body.rollouts[0].id, (d) => d.rollout.planned === true, 'planned');
    }
    const before = (await scanTable()).filter((item) => !item.includes('RATELIMIT#'));
    const refused = await push('v3');
    expectError(refused, 429, 'slow', '2 deliveries a minute');
    expect(refused.body.error.code).toBe('too_many_requests');
    expect(refused.headers.get('retry-after')).toBe('30');
    expect((await scanTable()).filter((item) => !item.includes('RATELIMIT#'))).toEqual(before);

    // A refused caller without the secret spends nothing, and another registry has its own bucket.
    expectError(await deliver(deliveryOf['docker-hub']('slow', 'wrong-secret', { repository: 'acme/slow', tag: 'v3' })), 401);
    expect((await f.push('acme/slow', 'v9')).status).toBe(202);

    host.clock.advance(29_000);
    expect((await push('v3')).headers.get('retry-after')).toBe('1');
    host.clock.advance(1_000);
    const accepted = await push('v3');
    expect(accepted.status, JSON.stringify(accepted.body)).toBe(202);
    expect(accepted.body.rollouts[0].image).toBe('acme/slow:v3');
    expect((await push('v4')).status).toBe(429);
  });
});

describe('ECR', () => {
  const fixture = JSON.parse(readFileSync(new URL('../fixtures/registry/ecr-image-push.json', import.meta.url), 'utf8'));
  const repository = '123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/edge-agent';

  it('a push event on the default bus makes a rollout under the ECR registry configured for its account and region', async () => {
    const { registry, secret } = await createRegistry({ name: 'ecr-prod', kind: 'ecr', host: '123456789012.dkr.ecr.eu-west-1.amazonaws.com' });
    expect(secret).toBeUndefined();
    expect(registry).toMatchObject({ webhook_url: null, secret_kept_as: null });
    await createRegistry({ name: 'ecr-other', kind: 'ecr', host: '210987654321.dkr.ecr.us-east-1.amazonaws.com' });
    await manualPolicy(repository);

    const [delivered, ...more] = await host.deliverEvent(fixture);
    expect(more).toEqual([]);
    expect(delivered!.function).toBe('ecrEvents');
    const result = delivered!.result as { rollouts: { id: string; image: string }[] };
    expect(result.rollouts).toHaveLength(1);
    expect(result.rollouts[0]!.image).toBe(`${repository}:v3.1.0@${fixture.detail['image-digest']}`);
    const { rollout } = await f.rollout(result.rollouts[0]!.id);
    expect(rollout).toMatchObject({ registry: 'ecr-prod', repository, tag: 'v3.1.0', digest: fixture.detail['image-digest'], delivery_id: fixture.id });

    // The same event again (EventBridge delivers at least once) finds the same rollout.
    const [again] = await host.deliverEvent(fixture);
    expect((again!.result as { rollouts: { id: string }[] }).rollouts.map((r) => r.id)).toEqual([rollout.id]);
  });

  it('only successful pushes reach the function; an account with no ECR registry makes nothing', async () => {
    expect(await host.deliverEvent({ ...fixture, detail: { ...fixture.detail, result: 'FAILURE' } })).toEqual([]);
    expect(await host.deliverEvent({ ...fixture, detail: { ...fixture.detail, 'action-type': 'DELETE' } })).toEqual([]);
    expect(await host.deliverEvent({ ...fixture, source: 'my.app' })).toEqual([]);
    const [stranger] = await host.deliverEvent({ ...fixture, id: randomUUID(), account: '999999999999' });
    expect(stranger!.result).toBeUndefined();
  });

  it('an ECR registry takes no webhooks: its URL answers 404, saying why', async () => {
    expectError(await f.api('POST', '/api/v1/webhooks/ecr-prod', { token: 'anything-at-all', body: {} }), 404, 'EventBridge');
    expectError(await f.api('PATCH', '/api/v1/registries/ecr-prod', { body: { rotate_secret: true } }), 400, 'no secret');
  });
});
