/**
 * Property tests of the registry side (issue 9): whatever a registry, a proxy or an attacker
 * posts, the webhook parsers answer with normalised pushes or with one of the module's own
 * errors (a ClientError, which the API turns into a 4xx), never with a TypeError or any other
 * fault; and image references parse back into the parts they were written from.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ClientError } from '../../lib/errors';
import { isDigest, normaliseRepository, parseImageReference, parseWebhook, registries, type ImagePushed, type WebhookRequest } from '../../lib/registry';
import { parseJsonObject, requireContentType } from '../../lib/registry/payload';
import { anyJson, anyString, jsonText, malformedBody, mutate, mutation } from './arbitraries';
import { formatReference, pathComponent, referenceParts, repositoryOf, tag } from './references';
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
};

// Weighted towards what the registries send, so that enough cases get past the first checks
// for the accepted pushes to be checked too.
const contentTypes = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(undefined, 'application/json', 'application/vnd.docker.distribution.events.v2+json', 'text/plain', '', ' ; ', 'APPLICATION/JSON; charset=utf-8') },
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
  for (const registry of Object.keys(registries)) {
    it(`${registry}: any body, content type and credential gives pushes or the module's own error`, () => {
      let accepted = 0;
      fc.assert(
        fc.property(
          body(registry),
          contentTypes,
          fc.constantFrom<'right' | 'wrong' | 'none'>('right', 'right', 'wrong', 'none'),
          fc.array(fc.tuple(fc.constantFrom('__proto__', 'constructor', 'Authorization', 'AUTHORIZATION', 'Content-Type', 'x'), anyString), { maxLength: 2 }),
          (text, contentType, credential, extraHeaders) => {
            const headers: Record<string, string | undefined> = Object.create(null);
            for (const [name, value] of extraHeaders) headers[name] = value;
            if (contentType !== undefined) headers['content-type'] = contentType;
            const query: Record<string, string | undefined> = Object.create(null);
            const presented = credential === 'right' ? secret : credential === 'wrong' ? `${secret}x` : undefined;
            if (presented !== undefined) {
              headers.authorization = `Bearer ${presented}`;
              query.token = presented;
            }
            const request: WebhookRequest = { headers, query, body: text };
            const result = outcome(() => parseWebhook(registry, request, secret, receivedAt));
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
      // dozen may be all refusals).
      if (runs >= 100) expect(accepted).toBeGreaterThan(0);
    });

    it(`${registry}: a valid payload's pushes are found again in a repost of it`, () => {
      fc.assert(
        fc.property(fc.constantFrom(...validPayloads[registry]!), (payload) => {
          const request: WebhookRequest = { headers: { authorization: `Bearer ${secret}` }, query: { token: secret }, body: JSON.stringify(payload) };
          const first = parseWebhook(registry, request, secret, receivedAt);
          expect(first.length).toBeGreaterThan(0);
          expect(parseWebhook(registry, request, secret, new Date(receivedAt.getTime() + 60_000)).map((p) => p.delivery_id)).toEqual(first.map((p) => p.delivery_id));
        }),
        fuzzParameters(Math.min(runs, 20)),
      );
    });
  }

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
