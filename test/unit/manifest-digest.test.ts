/**
 * lib/registry/manifest-digest.ts against a small registry of our own on 127.0.0.1 that speaks
 * the distribution token flow as Docker Hub does: a 401 with a Bearer challenge, a token service
 * at the realm, the digest in `Docker-Content-Digest` chosen by the `Accept` header. The real
 * registry is in test/containers/manifest-digest.test.ts.
 */
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../lib/config';
import { functionEnvironment } from '../../lib/environment';
import { MANIFEST_ACCEPT, parseChallenge, resolveManifestDigest } from '../../lib/registry/manifest-digest';
import { manifestApiFor, withDigests } from '../../lib/registries/push-digests';
import { rolloutIdFor, rolloutImageOf } from '../../lib/rollouts/create-rollouts';

const sha = (text: string) => `sha256:${createHash('sha256').update(text).digest('hex')}`;
const INDEX_DIGEST = sha('index');
const MANIFEST_DIGEST = sha('manifest');
const MANIFEST_BODY = JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: {}, layers: [] });
const CREDENTIALS = { username: 'ci', password: 's3cret-token' };

interface FakeOptions {
  /** Repositories only the credentials may pull (an anonymous token gets a 401 on them). */
  privateNames?: string[];
  /** The token service refuses anonymous requests. */
  tokenNeedsCredentials?: boolean;
  /** The token answer's body, instead of `{"token": …}`. */
  tokenBody?: (token: string) => string;
  /** The token service never answers. */
  tokenHangs?: boolean;
  /** No challenge: the manifest API answers without a token. */
  open?: boolean;
}

interface Fake {
  url: string;
  requests: { method: string; path: string; headers: IncomingMessage['headers'] }[];
}

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(
    servers.splice(0).map((server) => {
      // The requests it never answered (the slow ones) would hold close() up.
      server.closeAllConnections();
      return new Promise((resolve) => server.close(resolve));
    }),
  );
});

async function fakeRegistry(options: FakeOptions = {}): Promise<Fake> {
  const fake: Fake = { url: '', requests: [] };
  const basic = `Basic ${Buffer.from(`${CREDENTIALS.username}:${CREDENTIALS.password}`).toString('base64')}`;
  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    const url = new URL(request.url ?? '/', fake.url);
    fake.requests.push({ method: request.method ?? '', path: `${url.pathname}${url.search}`, headers: request.headers });
    if (url.pathname === '/token') {
      if (options.tokenHangs) return;
      const withCredentials = request.headers.authorization === basic;
      if (request.headers.authorization !== undefined && !withCredentials) return void response.writeHead(401).end();
      if (options.tokenNeedsCredentials && !withCredentials) return void response.writeHead(401).end();
      const scope = url.searchParams.get('scope') ?? '';
      const token = `${withCredentials ? 'tok-user' : 'tok-anon'}|${url.searchParams.get('service')}|${scope}`;
      response.writeHead(200, { 'content-type': 'application/json' });
      return void response.end(options.tokenBody ? options.tokenBody(token) : JSON.stringify({ token }));
    }
    const manifest = /^\/v2\/(.+)\/manifests\/([^/]+)$/.exec(url.pathname);
    if (!manifest) return void response.writeHead(404).end();
    const [, name, tag] = manifest as unknown as [string, string, string];
    const bearer = request.headers.authorization?.replace(/^Bearer /, '') ?? '';
    const [kind, service, scope] = bearer.split('|');
    const granted = service === 'fake-registry' && scope === `repository:${name}:pull` && (kind === 'tok-user' || (kind === 'tok-anon' && !options.privateNames?.includes(name)));
    if (!options.open && !granted) {
      response.writeHead(401, { 'www-authenticate': `Bearer realm="${fake.url}/token",service="fake-registry",scope="repository:${name}:pull"` });
      return void response.end();
    }
    const accept = request.headers.accept ?? '';
    const headers: Record<string, string> = { 'content-type': 'application/vnd.oci.image.manifest.v1+json' };
    switch (tag) {
      case 'slow':
        return;
      case 'moved':
        return void response.writeHead(307, { location: `/v2/${name}/manifests/v1` }).end();
      case 'elsewhere':
        return void response.writeHead(307, { location: `http://127.0.0.2:1/v2/${name}/manifests/v1` }).end();
      case 'garbage':
        return void response.writeHead(200, { ...headers, 'docker-content-digest': 'sha256:not-hex' }).end();
      case 'headerless':
        return void response.writeHead(200, headers).end(request.method === 'GET' ? MANIFEST_BODY : undefined);
      case 'huge':
        response.writeHead(200, headers);
        return void response.end(request.method === 'GET' ? 'x'.repeat(5 * 1024 * 1024) : undefined);
      case 'v1':
        // As a registry does for a multi-platform tag: the index to a client that takes one.
        headers['docker-content-digest'] = accept.includes('application/vnd.oci.image.index.v1+json') ? INDEX_DIGEST : MANIFEST_DIGEST;
        return void response.writeHead(200, headers).end();
      default:
        return void response.writeHead(404, { 'content-type': 'application/json' }).end('{"errors":[{"code":"MANIFEST_UNKNOWN"}]}');
    }
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  fake.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return fake;
}

const resolve = (fake: Fake, tag: string, options: { credentials?: typeof CREDENTIALS; timeoutMs?: number; name?: string } = {}) =>
  resolveManifestDigest({ apiUrl: fake.url, name: options.name ?? 'team/app', tag }, { timeoutMs: options.timeoutMs ?? 2_000, ...(options.credentials ? { credentials: options.credentials } : {}) });

describe('resolveManifestDigest', () => {
  it('follows the Bearer challenge anonymously and answers the digest a pull resolves (the index of a multi-platform tag)', async () => {
    const fake = await fakeRegistry();
    expect(await resolve(fake, 'v1')).toEqual({ digest: INDEX_DIGEST });
    expect(fake.requests.map((r) => `${r.method} ${r.path}`)).toEqual([
      'HEAD /v2/team/app/manifests/v1',
      `GET /token?service=fake-registry&scope=${encodeURIComponent('repository:team/app:pull')}`,
      'HEAD /v2/team/app/manifests/v1',
    ]);
    expect(fake.requests[1]!.headers.authorization).toBeUndefined();
    expect(fake.requests[2]!.headers.authorization).toMatch(/^Bearer tok-anon\|/);
    const accepted = fake.requests[2]!.headers.accept!.split(',').map((type) => type.trim());
    expect(accepted).toEqual(MANIFEST_ACCEPT.split(', '));
    expect(accepted).toEqual(
      expect.arrayContaining([
        'application/vnd.oci.image.index.v1+json',
        'application/vnd.oci.image.manifest.v1+json',
        'application/vnd.docker.distribution.manifest.list.v2+json',
        'application/vnd.docker.distribution.manifest.v2+json',
      ]),
    );
  });

  it('asks the token service with Basic credentials when it has them, and pulls what only they may', async () => {
    const fake = await fakeRegistry({ privateNames: ['team/private'], tokenNeedsCredentials: true });
    expect(await resolve(fake, 'v1', { name: 'team/private', credentials: CREDENTIALS })).toEqual({ digest: INDEX_DIGEST });
    const tokenRequest = fake.requests.find((r) => r.path.startsWith('/token'))!;
    expect(tokenRequest.headers.authorization).toBe(`Basic ${Buffer.from('ci:s3cret-token').toString('base64')}`);
    expect(fake.requests.at(-1)!.headers.authorization).toMatch(/^Bearer tok-user\|/);
  });

  it('takes access_token when the token service answers that instead of token', async () => {
    const fake = await fakeRegistry({ tokenBody: (token) => JSON.stringify({ access_token: token, expires_in: 300 }) });
    expect(await resolve(fake, 'v1')).toEqual({ digest: INDEX_DIGEST });
  });

  it('says why when credentials are needed and absent, wrong, or not enough', async () => {
    const needs = await fakeRegistry({ tokenNeedsCredentials: true });
    expect(await resolve(needs, 'v1')).toEqual({ error: expect.stringMatching(/refused an anonymous token \(401\); credentials are needed/) });
    expect(await resolve(needs, 'v1', { credentials: { username: 'ci', password: 'wrong' } })).toEqual({ error: expect.stringMatching(/refused the credentials \(401\)/) });
    const privateRepo = await fakeRegistry({ privateNames: ['team/app'] });
    const refused = await resolve(privateRepo, 'v1');
    expect(refused).toEqual({ error: expect.stringMatching(/team\/app:v1 at http:\/\/127\.0\.0\.1:\d+ answered 401 after a token was issued/) });
    // It retried once with the token, not more.
    expect(privateRepo.requests.filter((r) => r.method === 'HEAD')).toHaveLength(2);
  });

  it('says the tag is not found on a 404', async () => {
    const fake = await fakeRegistry();
    expect(await resolve(fake, 'gone')).toEqual({ error: expect.stringMatching(/^tag gone of team\/app not found at http:\/\/127\.0\.0\.1:\d+ \(404\)$/) });
  });

  it('gives up at the deadline, whichever request is waiting, and says which', async () => {
    const slowManifest = await fakeRegistry({ open: true });
    const started = Date.now();
    expect(await resolve(slowManifest, 'slow', { timeoutMs: 300 })).toEqual({ error: expect.stringMatching(/no answer within 300 ms \(asking for the manifest\)/) });
    const slowToken = await fakeRegistry({ tokenHangs: true });
    expect(await resolve(slowToken, 'v1', { timeoutMs: 300 })).toEqual({ error: expect.stringMatching(/no answer within 300 ms \(asking the token service\)/) });
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it('refuses a digest header that is not a digest', async () => {
    const fake = await fakeRegistry({ open: true });
    expect(await resolve(fake, 'garbage')).toEqual({ error: expect.stringMatching(/Docker-Content-Digest "sha256:not-hex" is not a digest/) });
  });

  it('hashes the manifest itself when the registry sends no digest header, and refuses one too large to be a manifest', async () => {
    const fake = await fakeRegistry({ open: true });
    expect(await resolve(fake, 'headerless')).toEqual({ digest: sha(MANIFEST_BODY) });
    expect(fake.requests.map((r) => r.method)).toEqual(['HEAD', 'GET']);
    expect(await resolve(fake, 'huge')).toEqual({ error: expect.stringMatching(/the manifest is larger than 4194304 bytes/) });
  });

  it('refuses an oversized token answer, or one without a token', async () => {
    const huge = await fakeRegistry({ tokenBody: () => JSON.stringify({ token: 'x'.repeat(100 * 1024) }) });
    expect(await resolve(huge, 'v1')).toEqual({ error: expect.stringMatching(/the token answer is larger than 65536 bytes/) });
    const empty = await fakeRegistry({ tokenBody: () => '{"details":"none for you"}' });
    expect(await resolve(empty, 'v1')).toEqual({ error: expect.stringMatching(/answered no token/) });
    const html = await fakeRegistry({ tokenBody: () => '<html>maintenance</html>' });
    expect(await resolve(html, 'v1')).toEqual({ error: expect.stringMatching(/answered something other than JSON/) });
  });

  it('follows a redirect on the same host but not one to another host', async () => {
    const fake = await fakeRegistry({ open: true });
    expect(await resolve(fake, 'moved')).toEqual({ digest: INDEX_DIGEST });
    expect(await resolve(fake, 'elsewhere')).toEqual({ error: expect.stringMatching(/redirected to another host, http:\/\/127\.0\.0\.2:1; not followed/) });
    expect(fake.requests.filter((r) => r.path.endsWith('/v1'))).toHaveLength(1);
  });

  it('says when the registry cannot be reached', async () => {
    const fake = await fakeRegistry({ open: true });
    await new Promise((done) => servers.pop()!.close(done));
    expect(await resolve(fake, 'v1')).toEqual({ error: expect.stringMatching(/asking for the manifest failed: .*ECONNREFUSED/) });
  });

  it('sends no credentials to a token realm over plain http when the API is https', async () => {
    const asked: string[] = [];
    const fakeFetch = (async (input: URL | RequestInfo) => {
      const url = String(input);
      asked.push(url);
      return new Response(null, { status: 401, headers: { 'www-authenticate': 'Bearer realm="http://auth.example.test/token",service="x"' } });
    }) as typeof fetch;
    const answer = await resolveManifestDigest({ apiUrl: 'https://registry.example.test', name: 'team/app', tag: 'v1' }, { timeoutMs: 1_000, credentials: CREDENTIALS, fetch: fakeFetch });
    expect(answer).toEqual({ error: 'the token realm http://auth.example.test is not https; not asked' });
    expect(asked).toEqual(['https://registry.example.test/v2/team/app/manifests/v1']);
  });

  it('refuses what it cannot ask about without asking', async () => {
    const options = { timeoutMs: 1_000, fetch: (() => Promise.reject(new Error('must not be called'))) as typeof fetch };
    expect(await resolveManifestDigest({ apiUrl: 'ftp://registry.example.test', name: 'team/app', tag: 'v1' }, options)).toEqual({ error: expect.stringMatching(/not http\(s\)/) });
    expect(await resolveManifestDigest({ apiUrl: 'https://registry.example.test', name: '../etc', tag: 'v1' }, options)).toEqual({ error: expect.stringMatching(/not a repository name/) });
    expect(await resolveManifestDigest({ apiUrl: 'https://registry.example.test', name: 'team/app', tag: 'v1/../x' }, options)).toEqual({ error: expect.stringMatching(/not a tag/) });
  });
});

describe('parseChallenge', () => {
  it('reads the scheme and the quoted or bare parameters of a challenge', () => {
    expect(parseChallenge('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/nginx:pull"')).toEqual({
      scheme: 'bearer',
      params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/nginx:pull' },
    });
    expect(parseChallenge('Basic realm="Registry \\"Realm\\"", charset=UTF-8')).toEqual({ scheme: 'basic', params: { realm: 'Registry "Realm"', charset: 'UTF-8' } });
    expect(parseChallenge('')).toBeUndefined();
  });
});

describe('manifestApiFor', () => {
  const push = (repository: string) => ({ repository });
  const hubRegistry = { name: 'docker-registry', kind: 'docker-hub' as const };
  const quayRegistry = { name: 'quay', kind: 'quay' as const };
  const apis = { dockerHubManifestApiUrl: 'https://registry-1.docker.io', quayManifestApiUrl: 'https://quay.io' };
  const off = { dockerHubManifestApiUrl: null, quayManifestApiUrl: null };

  it('looks Docker Hub pushes up at the configured API, official images under library/', () => {
    expect(manifestApiFor(push('acme/app'), hubRegistry, apis)).toEqual({ apiUrl: 'https://registry-1.docker.io', name: 'acme/app' });
    expect(manifestApiFor(push('nginx'), hubRegistry, apis)).toEqual({ apiUrl: 'https://registry-1.docker.io', name: 'library/nginx' });
    expect(manifestApiFor(push('library/nginx'), hubRegistry, apis)).toEqual({ apiUrl: 'https://registry-1.docker.io', name: 'library/nginx' });
    expect(manifestApiFor(push('acme/app'), hubRegistry, { ...apis, dockerHubManifestApiUrl: 'http://127.0.0.1:5000' })).toEqual({ apiUrl: 'http://127.0.0.1:5000', name: 'acme/app' });
  });

  it("takes a registry's own api_url over the deployment's, even with the deployment's look-up off", () => {
    expect(manifestApiFor(push('acme/app'), { ...hubRegistry, api_url: 'https://mirror.example.com' }, off)).toEqual({ apiUrl: 'https://mirror.example.com', name: 'acme/app' });
  });

  it("looks a Quay push up at the registry's own host only: quay.io unless the registry names another", () => {
    expect(manifestApiFor(push('quay.io/team/app'), quayRegistry, apis)).toEqual({ apiUrl: 'https://quay.io', name: 'team/app' });
    expect(manifestApiFor(push('quay.example.com/team/app'), { ...quayRegistry, host: 'quay.example.com' }, apis)).toEqual({ apiUrl: 'https://quay.example.com', name: 'team/app' });
    expect(manifestApiFor(push('127.0.0.1:5000/team/app'), { ...quayRegistry, host: '127.0.0.1:5000', api_url: 'http://127.0.0.1:5000' }, off)).toEqual({ apiUrl: 'http://127.0.0.1:5000', name: 'team/app' });
    // A payload naming some other host gets no look-up there, so no credentials go to it.
    expect(manifestApiFor(push('evil.example.com/team/app'), { ...quayRegistry, pull_credentials: { username: 'u', secret_id: 's', version_id: 'v' } }, apis)).toEqual({
      unavailable: 'the push names host evil.example.com, not quay.io, the host of registry quay, so nothing is looked up there (set the registry\'s host to look it up)',
    });
    expect(manifestApiFor(push('quay.io/team/app'), { ...quayRegistry, host: 'quay.example.com' }, apis)).toEqual({ unavailable: expect.stringMatching(/names host quay\.io, not quay\.example\.com/) });
  });

  it('says why there is no look-up when it is off or the kind has none', () => {
    expect(manifestApiFor(push('acme/app'), hubRegistry, off)).toEqual({ unavailable: 'digest look-up is off (DOCKER_HUB_MANIFEST_API_URL=off)' });
    expect(manifestApiFor(push('quay.io/team/app'), quayRegistry, off)).toEqual({ unavailable: 'digest look-up is off (QUAY_MANIFEST_API_URL=off)' });
    expect(manifestApiFor(push('registry.example.com/team/app'), { name: 'distribution', kind: 'distribution' }, apis)).toEqual({
      unavailable: 'the distribution webhook named no digest, and digests are not looked up for distribution registries',
    });
  });
});

describe('DOCKER_HUB_MANIFEST_API_URL', () => {
  it('defaults to Docker Hub\'s API, takes another registry\'s, or off', () => {
    expect(loadConfig({}).dockerHubManifestApiUrl).toBe('https://registry-1.docker.io');
    expect(loadConfig({ DOCKER_HUB_MANIFEST_API_URL: 'http://127.0.0.1:5000/' }).dockerHubManifestApiUrl).toBe('http://127.0.0.1:5000');
    expect(loadConfig({ DOCKER_HUB_MANIFEST_API_URL: 'https://mirror.example.com/registry/' }).dockerHubManifestApiUrl).toBe('https://mirror.example.com/registry');
    expect(loadConfig({ DOCKER_HUB_MANIFEST_API_URL: 'OFF' }).dockerHubManifestApiUrl).toBeNull();
    expect(loadConfig({}).quayManifestApiUrl).toBe('https://quay.io');
    expect(loadConfig({ QUAY_MANIFEST_API_URL: 'off' }).quayManifestApiUrl).toBeNull();
    expect(() => loadConfig({ QUAY_MANIFEST_API_URL: 'quay.io' })).toThrow('QUAY_MANIFEST_API_URL must be an http(s) URL of a registry API or "off", got "quay.io": not a URL');
  });

  it('fails the cold start naming what is wrong with it', () => {
    for (const [raw, why] of [
      ['registry-1.docker.io', 'not a URL'],
      ['ftp://registry.example.com', 'not http or https'],
      ['https://user:secret@registry.example.com', 'credentials do not belong in the URL'],
      ['https://registry.example.com/?x=1', 'no query or fragment'],
    ]) {
      expect(() => loadConfig({ DOCKER_HUB_MANIFEST_API_URL: raw })).toThrow(ConfigError);
      expect(() => loadConfig({ DOCKER_HUB_MANIFEST_API_URL: raw })).toThrow(`DOCKER_HUB_MANIFEST_API_URL must be an http(s) URL of a registry API or "off", got "${raw}": ${why}`);
    }
  });

  it('reaches the functions when a host sets it, and is left to the default otherwise', () => {
    const resources = { tableName: 't', queueUrls: {} as never, secrets: {} };
    const common = { tickSeconds: 30, healthCheckAllowedCidrs: [] };
    expect(functionEnvironment({}, resources, { ...common, dockerHubManifestApiUrl: 'off' })).toMatchObject({ DOCKER_HUB_MANIFEST_API_URL: 'off' });
    expect(Object.keys(functionEnvironment({}, resources, common))).not.toContain('DOCKER_HUB_MANIFEST_API_URL');
  });
});

describe('withDigests', () => {
  const base = { registry: 'docker-registry', repository: 'acme/app', tag: 'v2', pushed_at: '2024-07-01T12:00:00.000Z', delivery_id: 'd1' };

  it('marks a digest the webhook named as the registry\'s, and says why a push has none (this suite runs with the look-up off)', async () => {
    const digest = sha('pushed');
    expect(await withDigests([{ ...base, digest }, base], { name: 'docker-registry', kind: 'docker-hub' })).toEqual([
      { ...base, digest, digest_source: 'registry' },
      { ...base, digest_unresolved: 'digest look-up is off (DOCKER_HUB_MANIFEST_API_URL=off)' },
    ]);
  });
});

describe('a resolved digest and the rollout of a push', () => {
  const push = { registry: 'docker-registry', repository: 'acme/app', tag: 'latest', pushed_at: '2024-07-01T12:00:00.000Z', delivery_id: 'd1' };
  const digest = sha('content');

  it('pins the image, but the delivery stays the identity: a copy is the same rollout, a re-push of the same content another', () => {
    const resolved = { ...push, digest, digest_source: 'resolved' as const };
    expect(rolloutImageOf(resolved)).toBe(`acme/app:latest@${digest}`);
    expect(rolloutIdFor(resolved)).toBe(rolloutIdFor(push));
    expect(rolloutIdFor({ ...resolved, delivery_id: 'd2' })).not.toBe(rolloutIdFor(resolved));
  });

  it('takes a digest the registry named as the identity, whichever notification carries it', () => {
    const named = { ...push, registry: 'distribution', digest, digest_source: 'registry' as const };
    expect(rolloutIdFor({ ...named, delivery_id: 'd2' })).toBe(rolloutIdFor(named));
    const { digest_source: _, ...claimedBeforeLookups } = named;
    expect(rolloutIdFor(claimedBeforeLookups)).toBe(rolloutIdFor(named));
  });
});
