/**
 * lib/registry/manifest-digest.ts against a real registry: Debian's `docker-registry` (CNCF
 * Distribution 2.8), fed over plain HTTP, once open and once behind token auth as Docker Hub is.
 * The digest it resolves for a tag must be the one the registry answered when the manifest was
 * put under that tag.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveManifestDigest } from '../../lib/registry/manifest-digest';
import { HttpPush } from './support/http-push';
import { startRegistry, type Registry } from './support/registry';
import { startTokenService, type TokenService } from './support/token-service';

const REGISTRY_BINARY = '/usr/bin/docker-registry';
const absent = !existsSync(REGISTRY_BINARY);
// CI installs it (.ci/run): there, its absence is a failure, never a skip.
if (absent && process.env.CI) throw new Error(`${REGISTRY_BINARY} is absent, and CI installs it (apt-get install docker-registry)`);
if (absent) console.warn(`${REGISTRY_BINARY} is absent (apt-get install docker-registry): the real-registry digest tests are skipped`);

const resolveAt = (registry: Registry, name: string, tag: string, credentials?: { username: string; password: string }) =>
  resolveManifestDigest({ apiUrl: registry.url, name, tag }, { timeoutMs: 3_000, ...(credentials ? { credentials } : {}) });

describe.skipIf(absent)('resolving a tag against a real registry (docker-registry)', () => {
  let registry: Registry;
  let push: HttpPush;

  beforeAll(async () => {
    registry = await startRegistry();
    push = new HttpPush(registry.url);
  });
  afterAll(async () => {
    await registry?.stop();
  });

  it('answers the digest the registry stored for the tag, and the new one once the tag moves', async () => {
    const first = await push.dockerImage('team/app', 'v1');
    expect(await resolveAt(registry, 'team/app', 'v1')).toEqual({ digest: first.digest });
    // The digest is the manifest's own hash, as a pull would verify it.
    const stored = await fetch(`${registry.url}/v2/team/app/manifests/${first.digest}`, { headers: { accept: first.mediaType } });
    expect(`sha256:${createHash('sha256').update(Buffer.from(await stored.arrayBuffer())).digest('hex')}`).toBe(first.digest);

    const moved = await push.dockerImage('team/app', 'v1');
    expect(moved.digest).not.toBe(first.digest);
    expect(await resolveAt(registry, 'team/app', 'v1')).toEqual({ digest: moved.digest });
  });

  it('answers the index digest of a multi-platform tag, not one platform\'s', async () => {
    const { index, platforms } = await push.multiPlatformImage('team/multi', 'v1', ['amd64', 'arm64']);
    const answer = await resolveAt(registry, 'team/multi', 'v1');
    expect(answer).toEqual({ digest: index.digest });
    expect(platforms.map((p) => p.digest)).not.toContain(index.digest);
  });

  it('says the tag is not found when the registry lacks it', async () => {
    await push.dockerImage('team/app', 'v1');
    expect(await resolveAt(registry, 'team/app', 'never-pushed')).toEqual({ error: `tag never-pushed of team/app not found at ${registry.url} (404)` });
    expect(await resolveAt(registry, 'team/unknown', 'v1')).toEqual({ error: `tag v1 of team/unknown not found at ${registry.url} (404)` });
  });
});

describe.skipIf(absent)('resolving a tag against a real registry behind token auth', () => {
  const credentials = { username: 'fleet-ci', password: 'a-read-token-of-16+' };
  let tokens: TokenService;
  let registry: Registry;

  beforeAll(async () => {
    tokens = await startTokenService({ ...credentials, privateNames: ['team/private'] });
    registry = await startRegistry({ tokenAuth: tokens.auth });
  });
  afterAll(async () => {
    await registry?.stop();
    await tokens?.stop();
  });

  const pusher = (name: string) => new HttpPush(registry.url, `Bearer ${tokens.tokenFor(name, ['pull', 'push'])}`);

  it('gets an anonymous token from the realm the registry names, then the digest', async () => {
    const pushed = await pusher('team/public').dockerImage('team/public', 'v1');
    const before = tokens.issued.length;
    expect(await resolveAt(registry, 'team/public', 'v1')).toEqual({ digest: pushed.digest });
    expect(tokens.issued.slice(before)).toEqual([{ scope: 'repository:team/public:pull', withCredentials: false, granted: ['pull'] }]);
  });

  it('pulls a private repository with credentials, and says why not without them', async () => {
    const pushed = await pusher('team/private').dockerImage('team/private', 'v1');
    const anonymous = await resolveAt(registry, 'team/private', 'v1');
    expect(anonymous).toEqual({ error: `team/private:v1 at ${registry.url} answered 401 after a token was issued: the repository is private or missing, or the credentials cannot pull it` });
    expect(await resolveAt(registry, 'team/private', 'v1', credentials)).toEqual({ digest: pushed.digest });
    expect(tokens.issued.at(-1)).toEqual({ scope: 'repository:team/private:pull', withCredentials: true, granted: ['pull'] });
  });
});
