/**
 * Property tests of the registry side (issue 9): whatever a registry, a proxy or an attacker
 * posts, the webhook parsers answer with normalised pushes or with one of the module's own
 * errors (a ClientError, which the API turns into a 4xx), never with a TypeError or any other
 * fault; and image references parse back into the parts they were written from.
 */
import { createHmac } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ClientError } from '../../lib/errors';
import { isDigest, normaliseRepository, parseEcrEvent, parseImageReference, parseWebhook, registries, type ImagePushed, type WebhookRequest } from '../../lib/registry';
import { parseJsonObject, requireContentType } from '../../lib/registry/payload';
import { anyJson, anyString, jsonText, malformedBody, mutate, mutation } from './arbitraries';
import { formatReference, pathComponent, referenceParts, registryHost, repositoryOf, tag } from './references';
import { fuzzParameters, fuzzRuns, timeoutFor } from './runs';

const runs = fuzzRuns(300);
const secret = 'whsec-fuzz-0f3a';
const receivedAt = new Date('2026-01-01T00:00:00.000Z');

/** What `run` did: its value, or the error it threw, which must be the module's own. */
function outcome<T>(run: () => T): { value: T } | { rejected: ClientError } {
  try {
    return { value: run() };
  } catch (error) {
    if (error instanceof ClientError) return { rejected: error };
    throw new Error(`threw ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)} instead of a ClientError`, { cause: error });
  }
}

/** What EventBridge would hand over for a mutated event: the JSON value, or the text if it is no JSON. */
function parsedOrText(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

function expectWellFormed(push: ImagePushed): void {
  // The kind's default name; the intake gives each push its registry's name (lib/registries/intake.ts).
  expect(push.registry).toMatch(/^[a-z0-9-]+$/);
  expect(() => parseImageReference(`${push.repository}:${push.tag}`)).not.toThrow();
  if (push.digest !== undefined) expect(isDigest(push.digest)).toBe(true);
  expect(Number.isNaN(Date.parse(push.pushed_at))).toBe(false);
  expect(new Date(push.pushed_at).toISOString()).toBe(push.pushed_at);
  expect(push.delivery_id).toEqual(expect.any(String));
  expect(push.delivery_id).not.toBe('');
}

const validPayloads: Record<string, unknown[]> = {
  'docker-hub': [
    { push_data: { tag: 'v2', pushed_at: 1_767_225_600, pusher: 'ci' }, repository: { repo_name: 'team/app' } },
    { push_data: { tag: 'latest' }, repository: { repo_name: 'docker.io/library/nginx' } },
  ],
  distribution: [
    {
      events: [
        {
          id: 'evt-1',
          timestamp: '2026-01-01T00:00:00.123456789Z',
          action: 'push',
          target: { mediaType: 'application/vnd.oci.image.index.v1+json', repository: 'team/app', tag: 'v2', digest: `sha256:${'e'.repeat(64)}` },
          request: { host: 'registry.example.com:5000' },
        },
        { id: 'evt-2', action: 'push', target: { url: 'https://r.example.com/v2/team/app/manifests/v3', repository: 'team/app', tag: 'v3' } },
        { id: 'evt-3', action: 'pull', target: { repository: 'team/app' } },
      ],
    },
  ],
  ghcr: [
    {
      action: 'published',
      package: {
        name: 'sensor-agent',
        package_type: 'CONTAINER',
        owner: { login: 'Edge-Fleet' },
        package_version: {
          id: 7,
          version: `sha256:${'a'.repeat(64)}`,
          updated_at: '2026-01-01T00:00:00Z',
          container_metadata: { tag: { name: 'v2', digest: `sha256:${'a'.repeat(64)}` } },
        },
      },
    },
    { action: 'updated', package: { name: 'team/app', namespace: 'octo', owner: null, package_type: 'container', package_version: { container_metadata: { tag: { name: 'latest' } } } } },
  ],
  harbor: [
    {
      type: 'PUSH_ARTIFACT',
      occur_at: 1_767_225_600,
      event_data: {
        resources: [{ digest: `sha256:${'b'.repeat(64)}`, tag: 'v2', resource_url: 'harbor.example.com/edge/app:v2' }],
        repository: { name: 'app', namespace: 'edge', repo_full_name: 'edge/app' },
      },
    },
    {
      specversion: '1.0',
      id: 'ce-1',
      type: 'harbor.artifact.pushed',
      time: '2026-01-01T00:00:00Z',
      data: { resources: [{ tag: 'v3', resource_url: 'harbor.example.com:8443/edge/app:v3' }, { tag: 'stable', resource_url: 'harbor.example.com:8443/edge/app:stable' }], repository: { repo_full_name: 'edge/app' } },
    },
  ],
  quay: [
    { repository: 'ns/app', docker_url: 'quay.io/ns/app', updated_tags: ['v2', 'latest'] },
    { repository: 'ns/app', docker_url: 'quay.example.com:8443/ns/app', updated_tags: { v3: 'c'.repeat(64) } },
  ],
  gitlab: [
    {
      events: [
        { id: 'gl-1', action: 'push', target: { mediaType: 'application/vnd.oci.image.manifest.v1+json', repository: 'group/project/app', tag: 'v2' }, request: { host: 'registry.gitlab.example.com' } },
      ],
    },
  ],
  acr: [
    {
      id: 'acr-1',
      timestamp: '2026-01-01T00:00:00.5Z',
      action: 'push',
      target: { mediaType: 'application/vnd.docker.distribution.manifest.v2+json', digest: `sha256:${'d'.repeat(64)}`, repository: 'plant/app', tag: 'v2' },
      request: { host: 'contoso.azurecr.io' },
    },
  ],
  jfrog: [
    {
      domain: 'docker',
      event_type: 'pushed',
      data: { repo_key: 'docker-local', image_name: 'team/app', tag: 'v2', sha256: 'e'.repeat(64), path: 'team/app/v2/manifest.json' },
      subscription_key: 'hook',
      jpd_origin: 'https://acme.jfrog.io',
    },
  ],
};

/** Where each kind carries its credential: `presented` is the secret the sender knows. */
function present(registry: string, body: string, presented: string, headers: Record<string, string | undefined>, query: Record<string, string | undefined>): void {
  const signature = createHmac('sha256', presented).update(body, 'utf8').digest('hex');
  switch (registry) {
    case 'ghcr':
      headers['x-hub-signature-256'] = `sha256=${signature}`;
      break;
    case 'jfrog':
      headers['x-jfrog-event-auth'] = body.length % 2 === 0 ? presented : signature;
      break;
    case 'harbor':
      headers.authorization = body.length % 2 === 0 ? presented : `Bearer ${presented}`;
      break;
    default:
      headers.authorization = `Bearer ${presented}`;
      query.token = presented;
  }
}

/** Headers a kind's sender always sends, beside the credential. */
const senderHeaders: Record<string, Record<string, string>> = {
  ghcr: { 'x-github-event': 'package', 'x-github-delivery': 'd-1' },
};

/** The kinds reached over HTTP; ECR's route is closed, and its events are fuzzed on their own below. */
const httpKinds = Object.keys(registries).filter((registry) => registry !== 'ecr');

// Weighted towards what the registries send, so that enough cases get past the first checks
// for the accepted pushes to be checked too.
const contentTypes = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.constantFrom(undefined, 'application/json', 'application/vnd.docker.distribution.events.v2+json', 'application/cloudevents+json', 'application/x-www-form-urlencoded', 'text/plain', '', ' ; ', 'APPLICATION/JSON; charset=utf-8'),
  },
  { weight: 1, arbitrary: anyString },
);

/** A body: any text, any JSON, or (mostly) a valid payload with one change. */
const body = (registry: string) =>
  fc.oneof(
    { weight: 1, arbitrary: malformedBody },
    { weight: 1, arbitrary: anyString },
    { weight: 1, arbitrary: anyJson.map(jsonText) },
    { weight: 6, arbitrary: fc.tuple(fc.nat(), mutation).map(([i, m]) => mutate(validPayloads[registry]![i % validPayloads[registry]!.length], m)) },
  );

describe('webhook parsers', { timeout: timeoutFor(runs * 3, 10) }, () => {
  for (const registry of httpKinds) {
    it(`${registry}: any body, content type and credential gives pushes or the module's own error`, () => {
      let accepted = 0;
      fc.assert(
        fc.property(
          body(registry),
          contentTypes,
          fc.constantFrom<'right' | 'wrong' | 'none'>('right', 'right', 'wrong', 'none'),
          fc.array(
            fc.tuple(fc.constantFrom('__proto__', 'constructor', 'Authorization', 'AUTHORIZATION', 'Content-Type', 'X-GitHub-Event', 'x-github-event', 'X-Hub-Signature-256', 'x'), anyString),
            { maxLength: 2 },
          ),
          fc.option(registryHost, { nil: undefined }),
          (text, contentType, credential, extraHeaders, host) => {
            const headers: Record<string, string | undefined> = Object.assign(Object.create(null), senderHeaders[registry]);
            for (const [name, value] of extraHeaders) headers[name] = value;
            if (contentType !== undefined) headers['content-type'] = contentType;
            const query: Record<string, string | undefined> = Object.create(null);
            const presented = credential === 'right' ? secret : credential === 'wrong' ? `${secret}x` : undefined;
            if (presented !== undefined) present(registry, text, presented, headers, query);
            const request: WebhookRequest = { headers, query, body: text };
            const result = outcome(() => parseWebhook(registry, request, secret, receivedAt, host === undefined ? undefined : { host }));
            if ('value' in result) {
              expect(credential).toBe('right');
              for (const push of result.value) expectWellFormed(push);
              accepted += result.value.length;
            } else {
              expect(result.rejected.statusCode).toBeGreaterThanOrEqual(400);
              expect(result.rejected.statusCode).toBeLessThan(500);
              expect(result.rejected.message).not.toBe('');
            }
          },
        ),
        fuzzParameters(runs),
      );
      // The mutations of valid payloads get through often enough for the pushes to be checked too
      // (10 to 20 of 300 cases for Docker Hub's strict body, 40 to 70 for Distribution's; a run of a few
      // dozen may be all refusals). A signing kind's signature is made over the mutated body, as the
      // registry would sign it.
      if (runs >= 100) expect(accepted).toBeGreaterThan(0);
    });

    it(`${registry}: a valid payload's pushes are found again in a repost of it`, () => {
      fc.assert(
        fc.property(fc.constantFrom(...validPayloads[registry]!), (payload) => {
          const text = JSON.stringify(payload);
          const headers: Record<string, string | undefined> = { ...senderHeaders[registry] };
          const query: Record<string, string | undefined> = {};
          present(registry, text, secret, headers, query);
          const request: WebhookRequest = { headers, query, body: text };
          const first = parseWebhook(registry, request, secret, receivedAt);
          expect(first.length).toBeGreaterThan(0);
          expect(parseWebhook(registry, request, secret, new Date(receivedAt.getTime() + 60_000)).map((p) => p.delivery_id)).toEqual(first.map((p) => p.delivery_id));
        }),
        fuzzParameters(Math.min(runs, 20)),
      );
    });
  }

  it('ecr: every request is refused (it sends no webhooks), whatever it carries', () => {
    fc.assert(
      fc.property(body('acr'), fc.constantFrom(secret, ''), (text, configured) => {
        const request: WebhookRequest = { headers: { authorization: `Bearer ${secret}`, 'x-hub-signature-256': 'sha256=00' }, query: { token: secret }, body: text };
        const result = outcome(() => parseWebhook('ecr', request, configured, receivedAt));
        expect('rejected' in result && result.rejected.statusCode).toBe(404);
      }),
      fuzzParameters(Math.min(runs, 50)),
    );
  });

  it('parseEcrEvent: any event gives a well-formed push or the module\'s own error', () => {
    const validEvent = {
      version: '0',
      id: 'ev-1',
      'detail-type': 'ECR Image Action',
      source: 'aws.ecr',
      account: '123456789012',
      time: '2026-01-01T00:00:00Z',
      region: 'eu-west-1',
      resources: [],
      detail: { result: 'SUCCESS', 'action-type': 'PUSH', 'repository-name': 'team/app', 'image-tag': 'v2', 'image-digest': `sha256:${'f'.repeat(64)}` },
    };
    let accepted = 0;
    fc.assert(
      fc.property(
        fc.oneof(
          { weight: 1, arbitrary: anyJson },
          { weight: 4, arbitrary: mutation.map((m) => parsedOrText(mutate(validEvent, m))) },
        ),
        (event) => {
          const result = outcome(() => parseEcrEvent(event));
          if ('value' in result) {
            for (const push of result.value) expectWellFormed(push);
            accepted += result.value.length;
          } else expect(result.rejected.statusCode).toBe(400);
        },
      ),
      fuzzParameters(runs),
    );
    if (runs >= 100) expect(accepted).toBeGreaterThan(0);
    expect(parseEcrEvent(validEvent)).toHaveLength(1);
  });

  it('an unknown registry name, whatever it is, is a 404 and not a lookup on Object.prototype', () => {
    fc.assert(
      fc.property(fc.oneof(anyString, fc.constantFrom('__proto__', 'constructor', 'toString', 'hasOwnProperty')), (name) => {
        fc.pre(!Object.hasOwn(registries, name));
        const result = outcome(() => parseWebhook(name, { headers: {}, query: { token: secret }, body: '{}' }, secret, receivedAt));
        expect('rejected' in result && result.rejected.statusCode).toBe(404);
      }),
      fuzzParameters(runs),
    );
  });

  it('parseJsonObject and requireContentType take any text', () => {
    fc.assert(
      fc.property(fc.oneof(malformedBody, anyString, anyJson.map(jsonText)), (text) => {
        const result = outcome(() => parseJsonObject(text));
        if ('value' in result) expect(typeof result.value === 'object' && result.value !== null && !Array.isArray(result.value)).toBe(true);
        outcome(() => requireContentType({ headers: { 'content-type': text }, query: {}, body: '' }, ['application/json']));
      }),
      fuzzParameters(runs),
    );
  });
});

describe('image references', { timeout: timeoutFor(runs * 3, 10) }, () => {
  it('parse back into the parts they were written from', () => {
    fc.assert(
      fc.property(referenceParts, (parts) => {
        const written = formatReference(parts);
        const parsed = parseImageReference(written);
        expect(parsed).toEqual({ repository: repositoryOf(parts), ...(parts.tag !== undefined ? { tag: parts.tag } : {}), ...(parts.digest !== undefined ? { digest: parts.digest } : {}) });
        // And the parts written out again are the reference.
        expect(`${parsed.repository}${parsed.tag !== undefined ? `:${parsed.tag}` : ''}${parsed.digest !== undefined ? `@${parsed.digest}` : ''}`).toBe(written);
      }),
      fuzzParameters(runs * 3),
    );
  });

  it('any string parses or is refused with the module\'s own error; normaliseRepository and isDigest never throw', () => {
    fc.assert(
      fc.property(fc.oneof(anyString, referenceParts.map(formatReference).chain((ref) => fc.tuple(fc.nat(), anyString).map(([at, s]) => ref.slice(0, at % (ref.length + 1)) + s))), (text) => {
        const result = outcome(() => parseImageReference(text));
        if ('rejected' in result) expect(result.rejected.statusCode).toBe(400);
        expect(typeof normaliseRepository(text)).toBe('string');
        expect(typeof isDigest(text)).toBe('boolean');
      }),
      fuzzParameters(runs * 3),
    );
  });

  it('Docker Hub names compare equal however they are written', () => {
    fc.assert(
      fc.property(pathComponent(true), fc.option(tag, { nil: undefined }), (name, version) => {
        const forms = [name, `library/${name}`, `docker.io/library/${name}`, `index.docker.io/library/${name}`, `DOCKER.IO/library/${name}`];
        for (const form of forms) expect(normaliseRepository(`${form}${version !== undefined ? `:${version}` : ''}`), form).toBe(name);
      }),
      fuzzParameters(runs),
    );
  });
});
