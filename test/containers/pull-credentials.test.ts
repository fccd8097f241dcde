/**
 * Private repositories pinned to a digest with a configured registry's pull credentials, end to
 * end: a real registry (Debian's `docker-registry`) behind token auth, as Docker Hub and Quay
 * keep private repositories, its tokens issued by ./support/token-service.ts to the right
 * username and password only; registries of kind `quay` and `docker-hub` configured through the
 * admin API with that registry as their `api_url`; webhooks through the HTTP API. The password
 * reaches the look-up (the token service sees Basic credentials), a wrong one rolls out by tag
 * saying the registry refused, and fixing it pins again.
 */
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHost, type Host } from '../../infra/embedded/host';
import { flow } from '../support/flow';
import { HttpPush } from './support/http-push';
import { startRegistry, type Registry } from './support/registry';
import { startTokenService, type TokenService } from './support/token-service';

const REGISTRY_BINARY = '/usr/bin/docker-registry';
const absent = !existsSync(REGISTRY_BINARY);
// CI installs it (.ci/run): there, its absence is a failure, never a skip.
if (absent && process.env.CI) throw new Error(`${REGISTRY_BINARY} is absent, and CI installs it (apt-get install docker-registry)`);
if (absent) console.warn(`${REGISTRY_BINARY} is absent (apt-get install docker-registry): the pull-credentials tests are skipped`);

describe.skipIf(absent)('private repositories resolved with a configured registry\'s pull credentials (docker-registry behind token auth)', () => {
  const credentials = { username: 'fleet-ci', password: 'a-read-token-of-16+' };
  let tokens: TokenService;
  let registry: Registry;
  let host: Host;
  let f: ReturnType<typeof flow>;

  beforeAll(async () => {
    tokens = await startTokenService({ ...credentials, privateNames: ['team/private'] });
    registry = await startRegistry({ tokenAuth: tokens.auth });
    // The deployment's own look-ups stay off: only a registry's api_url leads anywhere.
    host = await startHost({ port: 0, dataDir: ':memory:', tickSeconds: 1, quiet: true, dockerHubManifestApiUrl: 'off', quayManifestApiUrl: 'off' });
    f = flow(host);
  });
  afterAll(async () => {
    await host?.stop();
    await registry?.stop();
    await tokens?.stop();
  });

  const pushPrivate = (tag: string) => new HttpPush(registry.url, `Bearer ${tokens.tokenFor('team/private', ['pull', 'push'])}`).dockerImage('team/private', tag);

  async function configured(body: Record<string, unknown>): Promise<string> {
    const created = await f.api('POST', '/api/v1/registries', { body: { api_url: registry.url, ...body } });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    return created.body.secret;
  }

  const quayPush = (name: string, secret: string, tag: string) =>
    f.api('POST', `/api/v1/webhooks/${name}?token=${encodeURIComponent(secret)}`, { token: null, body: { repository: 'team/private', namespace: 'team', name: 'private', docker_url: `${registry.host}/team/private`, updated_tags: [tag] } });
  const hubPush = (name: string, secret: string, tag: string) =>
    f.api('POST', `/api/v1/webhooks/${name}?token=${encodeURIComponent(secret)}`, { token: null, body: { push_data: { tag, pushed_at: Math.floor(Date.now() / 1000) }, repository: { repo_name: 'team/private' } } });

  it('pins a Quay push to its digest, signing in with the registry\'s credentials', async () => {
    await f.createPolicy({ image_pattern: `${registry.host}/team/private:*`, update_strategy: 'manual' });
    const pushed = await pushPrivate('q1');
    const secret = await configured({ name: 'quay-private', kind: 'quay', host: registry.host, pull_credentials: credentials });
    const answer = await quayPush('quay-private', secret, 'q1');
    expect(answer.status, JSON.stringify(answer.body)).toBe(202);
    expect(answer.body.rollouts).toEqual([expect.objectContaining({ image: `${registry.host}/team/private:q1@${pushed.digest}` })]);
    expect(answer.body.pushes).toEqual([expect.objectContaining({ digest: pushed.digest, digest_source: 'resolved' })]);
    expect(tokens.issued.at(-1)).toEqual({ scope: 'repository:team/private:pull', withCredentials: true, granted: ['pull'] });
  });

  it('pins a push to a docker-hub registry whose api_url is another registry, with its credentials', async () => {
    await f.createPolicy({ image_pattern: 'team/private:*', update_strategy: 'manual' });
    const pushed = await pushPrivate('h1');
    const secret = await configured({ name: 'hub-private', kind: 'docker-hub', pull_credentials: credentials });
    const answer = await hubPush('hub-private', secret, 'h1');
    expect(answer.body.rollouts).toEqual([expect.objectContaining({ image: `team/private:h1@${pushed.digest}` })]);
  });

  it('rolls out by tag with wrong or no credentials, saying the registry refused, and pins again once they are fixed', async () => {
    await pushPrivate('w1');
    const secret = await configured({ name: 'quay-wrong', kind: 'quay', host: registry.host, pull_credentials: { ...credentials, password: 'not-the-password' } });
    const wrong = await quayPush('quay-wrong', secret, 'w1');
    expect(wrong.body.rollouts).toEqual([expect.objectContaining({ image: `${registry.host}/team/private:w1` })]);
    expect(wrong.body.pushes[0]).toMatchObject({ digest: null, digest_unresolved: expect.stringMatching(/^the token service http:\/\/127\.0\.0\.1:\d+ refused the credentials \(401\)$/) });

    const anonymous = await f.api('PATCH', '/api/v1/registries/quay-wrong', { body: { pull_credentials: null } });
    expect(anonymous.body.registry.pull_credentials).toBeNull();
    await pushPrivate('w2');
    const none = await quayPush('quay-wrong', secret, 'w2');
    expect(none.body.pushes[0]).toMatchObject({ digest: null, digest_unresolved: `team/private:w2 at ${registry.url} answered 401 after a token was issued: the repository is private or missing, or the credentials cannot pull it` });

    const fixed = await f.api('PATCH', '/api/v1/registries/quay-wrong', { body: { pull_credentials: credentials } });
    expect(fixed.body.registry.pull_credentials).toEqual({ username: credentials.username });
    const pushed = await pushPrivate('w3');
    const pinned = await quayPush('quay-wrong', secret, 'w3');
    expect(pinned.body.pushes[0]).toMatchObject({ digest: pushed.digest, digest_source: 'resolved' });
  });
});
