import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ClientError, Invalid, NotFound, Unauthorized, UnsupportedMediaType } from '../../lib/errors';
import {
  normaliseRepository,
  parseImageReference,
  parseWebhook,
  type WebhookRequest,
} from '../../lib/registry';

const SECRET = 'whsec-7c1f9a3e5b';
const RECEIVED_AT = new Date('2024-07-01T12:00:00.000Z');

function fixture(name: string): string {
  return readFileSync(new URL(`../fixtures/registry/${name}`, import.meta.url), 'utf8');
}

/** A Docker Hub request; `token: null` leaves the token out. */
function dockerHubRequest(body: string, token: string | null = SECRET): WebhookRequest {
  return { headers: { 'content-type': 'application/json' }, query: token === null ? {} : { token }, body };
}

/** A Distribution request; `authorization: null` leaves the header out. */
function distributionRequest(body: string, authorization: string | null = `Bearer ${SECRET}`): WebhookRequest {
  const contentType = { 'content-type': 'application/vnd.docker.distribution.events.v1+json' };
  return { headers: authorization === null ? contentType : { ...contentType, authorization }, query: {}, body };
}

/** The error `run` throws; fails the test when it throws none. */
function rejection(run: () => unknown): ClientError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(ClientError);
    return error as ClientError;
  }
  throw new Error('expected a rejection, but the call succeeded');
}

const dockerHub = (request: WebhookRequest, secret = SECRET, at = RECEIVED_AT) =>
  parseWebhook('docker-hub', request, secret, at);
const registry2 = (request: WebhookRequest, secret = SECRET, at = RECEIVED_AT) =>
  parseWebhook('distribution', request, secret, at);

/** A Distribution envelope around `events`, each a tagged manifest push unless overridden. */
function envelope(...events: Record<string, unknown>[]): string {
  return JSON.stringify({ events });
}

function manifestPush(overrides: Record<string, unknown> = {}, target: Record<string, unknown> = {}) {
  return {
    id: 'evt-1',
    timestamp: '2024-03-05T14:21:08.402117551Z',
    action: 'push',
    target: {
      mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
      digest: 'sha256:e02a8112e5979f47860ade9df4bfd634c9ae8f29039baa2e4077a968f93a3d4b',
      repository: 'team/app',
      url: 'https://registry.example.com:5000/v2/team/app/manifests/sha256:e02a8112e5979f47860ade9df4bfd634c9ae8f29039baa2e4077a968f93a3d4b',
      tag: 'v2',
      ...target,
    },
    request: { id: 'req-1', host: 'registry.example.com:5000', method: 'PUT', useragent: 'docker/24.0.7' },
    ...overrides,
  };
}

describe('docker-registry (Docker Hub) webhook', () => {
  it('turns the full Docker Hub payload into one push at the time Docker Hub reports', () => {
    const pushes = dockerHub(dockerHubRequest(fixture('docker-hub-push.json')));

    expect(pushes).toEqual([
      {
        registry: 'docker-registry',
        repository: 'iotistic/test-app',
        tag: 'v1.0.0',
        pushed_at: '2023-11-14T22:13:20.000Z',
        delivery_id: expect.stringMatching(/^[0-9a-f]{32}$/),
      },
    ]);
    expect(pushes[0]).not.toHaveProperty('digest');
  });

  it("accepts the seed's minimal payload and dates it at receipt", () => {
    const pushes = dockerHub(dockerHubRequest(fixture('docker-hub-minimal.json')));

    expect(pushes).toHaveLength(1);
    expect(pushes[0]).toMatchObject({
      registry: 'docker-registry',
      repository: 'iotistic/test-app',
      tag: 'v1.0.0',
      pushed_at: RECEIVED_AT.toISOString(),
    });
  });

  it('gives a reposted delivery the same id, whenever and however it is re-serialised', () => {
    const body = fixture('docker-hub-push.json');
    const first = dockerHub(dockerHubRequest(body))[0];
    const again = dockerHub(dockerHubRequest(body), SECRET, new Date('2024-07-02T00:00:00Z'))[0];
    const reformatted = dockerHub(dockerHubRequest(JSON.stringify(JSON.parse(body))))[0];

    expect(again?.delivery_id).toBe(first?.delivery_id);
    expect(reformatted?.delivery_id).toBe(first?.delivery_id);
  });

  it('gives an exact repost of the minimal payload the same id, although it carries no push time', () => {
    const body = fixture('docker-hub-minimal.json');
    const first = dockerHub(dockerHubRequest(body))[0];
    const later = dockerHub(dockerHubRequest(body), SECRET, new Date('2024-07-01T12:05:00Z'))[0];

    expect(later?.delivery_id).toBe(first?.delivery_id);
  });

  it('gives a different push (another tag, another push time) a different id', () => {
    const payload = JSON.parse(fixture('docker-hub-push.json'));
    const base = dockerHub(dockerHubRequest(JSON.stringify(payload)))[0]?.delivery_id;
    payload.push_data.tag = 'v1.0.1';
    const otherTag = dockerHub(dockerHubRequest(JSON.stringify(payload)))[0]?.delivery_id;
    payload.push_data.tag = 'v1.0.0';
    payload.push_data.pushed_at = 1700000060;
    const otherTime = dockerHub(dockerHubRequest(JSON.stringify(payload)))[0]?.delivery_id;

    expect(new Set([base, otherTag, otherTime]).size).toBe(3);
  });

  it('accepts an epoch with a fraction, as older Docker Hub payloads sent it', () => {
    const body = JSON.stringify({ repository: { repo_name: 'iotistic/test-app' }, push_data: { tag: 'latest', pushed_at: 1.417566161e9 } });

    expect(dockerHub(dockerHubRequest(body))[0]?.pushed_at).toBe('2014-12-03T00:22:41.000Z');
  });

  it("drops a docker.io host from repo_name but keeps Docker Hub's library/ namespace", () => {
    const push = (repoName: string) =>
      dockerHub(dockerHubRequest(JSON.stringify({ repository: { repo_name: repoName }, push_data: { tag: '1' } })))[0]
        ?.repository;

    expect(push('docker.io/iotistic/test-app')).toBe('iotistic/test-app');
    expect(push('index.docker.io/iotistic/test-app')).toBe('iotistic/test-app');
    expect(push('library/nginx')).toBe('library/nginx');
  });

  it.each([
    [{ push_data: { tag: 'v1' } }, 'repository is required'],
    [{ repository: {}, push_data: { tag: 'v1' } }, 'repository.repo_name is required'],
    [{ repository: { repo_name: 'iotistic/test-app' } }, 'push_data is required'],
    [{ repository: { repo_name: 'iotistic/test-app' }, push_data: {} }, 'push_data.tag is required'],
    [{ repository: { repo_name: 'iotistic/test-app' }, push_data: { tag: '' } }, 'push_data.tag must not be empty'],
    [{ repository: { repo_name: 'iotistic/test-app' }, push_data: { tag: 7 } }, 'push_data.tag must be a string'],
    [{ repository: { repo_name: 'iotistic/test-app' }, push_data: { tag: '-rc' } }, 'push_data.tag must be a tag'],
    [{ repository: { repo_name: 'Iotistic/Test-App' }, push_data: { tag: 'v1' } }, 'repository.repo_name must be a repository path'],
    [{ repository: { repo_name: 'iotistic/test-app' }, push_data: { tag: 'v1', pushed_at: '1700000000' } }, 'push_data.pushed_at must be a number'],
    [{ repository: { repo_name: 'iotistic/test-app' }, push_data: { tag: 'v1', pushed_at: 1700000000000 } }, 'push_data.pushed_at must be a time in epoch seconds'],
    // Each component valid, the whole longer than a repository may be (found by test/fuzz/registry.test.ts).
    [{ repository: { repo_name: `team/${'a'.repeat(251)}` }, push_data: { tag: 'v1' } }, 'repository.repo_name: image reference'],
  ])('rejects %j with 400 naming the field', (payload, message) => {
    const error = rejection(() => dockerHub(dockerHubRequest(JSON.stringify(payload))));

    expect(error).toBeInstanceOf(Invalid);
    expect(error.statusCode).toBe(400);
    expect(error.message).toContain(message);
  });

  it('names every missing field at once', () => {
    const error = rejection(() => dockerHub(dockerHubRequest('{}')));

    expect(error.message).toBe('push_data is required; repository is required');
  });

  it('rejects a body that is not JSON, or not a JSON object', () => {
    expect(rejection(() => dockerHub(dockerHubRequest('repository=iotistic/test-app'))).message).toBe('body is not valid JSON');
    expect(rejection(() => dockerHub(dockerHubRequest(''))).message).toBe('body is not valid JSON');
    expect(rejection(() => dockerHub(dockerHubRequest('[]'))).message).toBe('body must be a JSON object');
  });

  it('accepts JSON with a charset or without a content type, and refuses other media types with 415', () => {
    const body = fixture('docker-hub-minimal.json');
    const withType = (type: string | undefined): WebhookRequest => ({ headers: { 'content-type': type }, query: { token: SECRET }, body });

    expect(dockerHub(withType('application/json; charset=utf-8'))).toHaveLength(1);
    expect(dockerHub(withType(undefined))).toHaveLength(1);
    const error = rejection(() => dockerHub(withType('application/x-www-form-urlencoded')));
    expect(error).toBeInstanceOf(UnsupportedMediaType);
    expect(error.statusCode).toBe(415);
  });

  describe('sender authentication (?token=)', () => {
    const body = fixture('docker-hub-push.json');

    it('rejects a missing token with 401 saying where the token goes', () => {
      const error = rejection(() => dockerHub(dockerHubRequest(body, null)));

      expect(error).toBeInstanceOf(Unauthorized);
      expect(error.statusCode).toBe(401);
      expect(error.message).toContain('?token=');
    });

    it.each([
      ['a wrong token of the same length', SECRET.replace(/.$/, 'x')],
      ['a shorter token', SECRET.slice(0, -1)],
      ['a longer token', `${SECRET}0`],
      ['an empty token', ''],
    ])('rejects %s with 401', (_, token) => {
      const error = rejection(() => dockerHub(dockerHubRequest(body, token)));

      expect(error).toBeInstanceOf(Unauthorized);
    });

    it('does not take the secret from an Authorization header', () => {
      const request: WebhookRequest = { headers: { authorization: `Bearer ${SECRET}` }, query: {}, body };

      expect(rejection(() => dockerHub(request))).toBeInstanceOf(Unauthorized);
    });

    it('rejects every request when no secret is configured, even one presenting an empty token', () => {
      expect(rejection(() => dockerHub(dockerHubRequest(body, ''), '')).message).toContain('no webhook secret is configured');
      expect(rejection(() => dockerHub(dockerHubRequest(body, 'anything'), ''))).toBeInstanceOf(Unauthorized);
    });

    it('authenticates before reading the body', () => {
      expect(rejection(() => dockerHub(dockerHubRequest('not json', 'wrong')))).toBeInstanceOf(Unauthorized);
    });
  });
});

describe('distribution (CNCF Distribution) webhook', () => {
  it('keeps only the tagged manifest push of an envelope, once, with host-qualified repository and digest', () => {
    const pushes = registry2(distributionRequest(fixture('distribution-envelope.json')));

    expect(pushes).toEqual([
      {
        registry: 'distribution',
        repository: 'registry.example.com:5000/team/app',
        tag: 'v2',
        digest: 'sha256:e02a8112e5979f47860ade9df4bfd634c9ae8f29039baa2e4077a968f93a3d4b',
        pushed_at: '2024-03-05T14:21:08.402Z',
        delivery_id: '23be1c6c-097d-47f5-a984-2da7132d4bc3',
      },
    ]);
  });

  it('rolls out a multi-arch push once, for its tagged OCI index, not its per-platform manifests', () => {
    const pushes = registry2(distributionRequest(fixture('distribution-oci-index.json')));

    expect(pushes).toEqual([
      {
        registry: 'distribution',
        repository: 'registry.example.com/edge/sensor-agent',
        tag: '2.4.0',
        digest: 'sha256:1bc04b5291c26a46d918139138b992d2de976d6851d0893b0476b85bfbdfc6e6',
        pushed_at: '2024-06-18T07:02:56.377Z',
        delivery_id: '43144434-06fc-4e48-9dbc-77d99152b5a7',
      },
    ]);
  });

  it('gives the same delivery the same ids on every call', () => {
    const body = fixture('distribution-envelope.json');

    expect(registry2(distributionRequest(body), SECRET, new Date('2030-01-01T00:00:00Z'))).toEqual(
      registry2(distributionRequest(body)),
    );
  });

  it('returns every distinct tagged push of one envelope, in order', () => {
    const body = envelope(
      manifestPush({ id: 'a' }, { tag: 'v2' }),
      manifestPush({ id: 'b' }, { tag: 'latest' }),
      manifestPush({ id: 'a' }, { tag: 'v2' }),
      manifestPush({ id: 'c' }, { repository: 'team/worker', tag: 'v2' }),
    );

    expect(registry2(distributionRequest(body)).map((p) => `${p.delivery_id} ${p.repository}:${p.tag}`)).toEqual([
      'a registry.example.com:5000/team/app:v2',
      'b registry.example.com:5000/team/app:latest',
      'c registry.example.com:5000/team/worker:v2',
    ]);
  });

  it.each([
    ['a pull', manifestPush({ action: 'pull' })],
    ['a delete', manifestPush({ action: 'delete' })],
    ['a blob mount', manifestPush({ action: 'mount' }, { mediaType: 'application/octet-stream', url: 'https://r/v2/team/app/blobs/sha256:00' })],
    ['a blob push without media type', manifestPush({}, { mediaType: undefined, url: 'https://r/v2/team/app/blobs/sha256:00' })],
    ['an untagged manifest push', manifestPush({}, { tag: undefined })],
    ['a manifest push with an empty tag', manifestPush({}, { tag: '' })],
    ['a push of a Helm chart layer', manifestPush({}, { mediaType: 'application/vnd.cncf.helm.chart.content.v1.tar+gzip' })],
    ['an event without target', { id: 'x', action: 'push' }],
  ])('ignores %s without error', (_, event) => {
    expect(registry2(distributionRequest(envelope(event)))).toEqual([]);
  });

  it('counts a tagged push without media type when its URL is a manifest URL', () => {
    const pushes = registry2(distributionRequest(envelope(manifestPush({}, { mediaType: undefined }))));

    expect(pushes.map((p) => p.tag)).toEqual(['v2']);
  });

  it.each([
    'application/vnd.docker.distribution.manifest.list.v2+json',
    'application/vnd.oci.image.manifest.v1+json',
    'application/vnd.oci.image.index.v1+json',
  ])('counts a tagged push of %s', (mediaType) => {
    expect(registry2(distributionRequest(envelope(manifestPush({}, { mediaType }))))).toHaveLength(1);
  });

  it('falls back to the bare repository when the event names no request host, and lower-cases a host', () => {
    const noHost = registry2(distributionRequest(envelope(manifestPush({ request: { id: 'r', method: 'PUT' } }))));
    const upperHost = registry2(distributionRequest(envelope(manifestPush({ request: { host: 'Registry.Example.com:5000' } }))));

    expect(noHost[0]?.repository).toBe('team/app');
    expect(upperHost[0]?.repository).toBe('registry.example.com:5000/team/app');
  });

  it('dates a push without timestamp at receipt and leaves out a digest it was not given', () => {
    const [push] = registry2(distributionRequest(envelope(manifestPush({ timestamp: undefined }, { digest: undefined }))));

    expect(push?.pushed_at).toBe(RECEIVED_AT.toISOString());
    expect(push).not.toHaveProperty('digest');
  });

  it('accepts an empty envelope', () => {
    expect(registry2(distributionRequest('{"events":[]}'))).toEqual([]);
  });

  it.each([
    ['{}', 'events is required'],
    ['{"events":{}}', 'events must be an array'],
    [envelope(manifestPush(), 3 as never), 'events[1] must be an object'],
    [envelope(manifestPush({ id: undefined })), 'events[0].id is required'],
    [envelope(manifestPush({ id: '' })), 'events[0].id must not be empty'],
    [envelope(manifestPush({}, { repository: undefined })), 'events[0].target.repository is required'],
    [envelope(manifestPush(), manifestPush({ id: 'b' }, { repository: 'Team/App' })), 'events[1].target.repository must be a repository path'],
    [envelope(manifestPush({}, { digest: 'sha256:abc' })), 'events[0].target.digest must be a digest'],
    [envelope(manifestPush({ timestamp: 'yesterday' })), 'events[0].timestamp must be an RFC 3339 time'],
    [envelope(manifestPush({ request: { host: 'bad host/x' } })), 'events[0].request.host must be a host name'],
    // A valid host and a valid path, too long together (found by test/fuzz/registry.test.ts).
    [envelope(manifestPush({ request: { host: 'a'.repeat(250) } })), 'events[0]: image reference'],
  ])('rejects %s with 400 naming the field', (body, message) => {
    const error = rejection(() => registry2(distributionRequest(body)));

    expect(error).toBeInstanceOf(Invalid);
    expect(error.message).toContain(message);
  });

  it('lists each problem in details.issues, as the rest of the API does', () => {
    const body = envelope(manifestPush(), manifestPush({ id: 'b', timestamp: 'yesterday' }, { digest: 'sha256:abc' }));
    const error = rejection(() => registry2(distributionRequest(body)));

    expect(error.details).toEqual({
      issues: [
        { path: 'events[1].timestamp', message: expect.stringMatching(/^must be an RFC 3339 time/) },
        { path: 'events[1].target.digest', message: expect.stringMatching(/^must be a digest/) },
      ],
    });
    expect(error.message).toContain('events[1].timestamp must be an RFC 3339 time');
    expect(error.message).toContain('events[1].target.digest must be a digest');
  });

  it('does not validate events it ignores', () => {
    const pull = { id: '', action: 'pull', target: { repository: 'NOT VALID', tag: '' } };

    expect(registry2(distributionRequest(envelope(pull)))).toEqual([]);
  });

  it('rejects a body that is not JSON', () => {
    expect(rejection(() => registry2(distributionRequest('{"events": ['))).message).toBe('body is not valid JSON');
  });

  it.each([
    'application/vnd.docker.distribution.events.v1+json',
    'application/vnd.docker.distribution.events.v2+json',
    'application/json',
  ])('accepts content type %s', (type) => {
    const request = { ...distributionRequest(fixture('distribution-envelope.json')), headers: { 'content-type': type, authorization: `Bearer ${SECRET}` } };

    expect(registry2(request)).toHaveLength(1);
  });

  it('refuses other content types with 415', () => {
    const request = { ...distributionRequest('{"events":[]}'), headers: { 'content-type': 'text/plain', authorization: `Bearer ${SECRET}` } };

    expect(rejection(() => registry2(request))).toBeInstanceOf(UnsupportedMediaType);
  });

  describe('sender authentication (Authorization: Bearer)', () => {
    const body = fixture('distribution-envelope.json');

    it('accepts the scheme in any case', () => {
      expect(registry2(distributionRequest(body, `bearer ${SECRET}`))).toHaveLength(1);
    });

    it('rejects a missing header with 401 saying which header to send', () => {
      const error = rejection(() => registry2(distributionRequest(body, null)));

      expect(error).toBeInstanceOf(Unauthorized);
      expect(error.statusCode).toBe(401);
      expect(error.message).toContain('Authorization: Bearer');
    });

    it.each([
      ['a wrong secret', `Bearer ${SECRET.toUpperCase()}`],
      ['a truncated secret', `Bearer ${SECRET.slice(0, 4)}`],
      ['another scheme', `Basic ${Buffer.from(`registry:${SECRET}`).toString('base64')}`],
      ['the bare secret', SECRET],
      ['an empty bearer', 'Bearer '],
    ])('rejects %s with 401', (_, authorization) => {
      expect(rejection(() => registry2(distributionRequest(body, authorization)))).toBeInstanceOf(Unauthorized);
    });

    it('does not take the secret from the query string', () => {
      const request: WebhookRequest = { headers: {}, query: { token: SECRET }, body };

      expect(rejection(() => registry2(request))).toBeInstanceOf(Unauthorized);
    });

    it('rejects every request when no secret is configured', () => {
      expect(rejection(() => registry2(distributionRequest(body, 'Bearer '), ''))).toBeInstanceOf(Unauthorized);
      expect(rejection(() => registry2(distributionRequest(body, `Bearer ${SECRET}`), ''))).toBeInstanceOf(Unauthorized);
    });

    it('authenticates before reading the body', () => {
      expect(rejection(() => registry2(distributionRequest('not json', 'Bearer wrong')))).toBeInstanceOf(Unauthorized);
    });
  });
});

describe('parseWebhook routing', () => {
  it.each(['nexus', 'no-such-kind', 'docker-registry', 'ecr', 'constructor', '__proto__', ''])('answers %j, not a kind that sends webhooks, with 404', (name) => {
    const error = rejection(() => parseWebhook(name, dockerHubRequest('{}'), SECRET, RECEIVED_AT));

    expect(error).toBeInstanceOf(NotFound);
    expect(error.statusCode).toBe(404);
  });
});

describe('parseImageReference', () => {
  const digest = 'sha256:e02a8112e5979f47860ade9df4bfd634c9ae8f29039baa2e4077a968f93a3d4b';

  it.each([
    ['nginx', { repository: 'nginx' }],
    ['nginx:1.25-alpine', { repository: 'nginx', tag: '1.25-alpine' }],
    ['iotistic/test-app:v1.0.0', { repository: 'iotistic/test-app', tag: 'v1.0.0' }],
    ['registry.example.com:5000/team/app', { repository: 'registry.example.com:5000/team/app' }],
    ['registry.example.com:5000/team/app:v2', { repository: 'registry.example.com:5000/team/app', tag: 'v2' }],
    [`registry.example.com:5000/team/app:v2@${digest}`, { repository: 'registry.example.com:5000/team/app', tag: 'v2', digest }],
    [`registry.example.com:5000/team/app@${digest}`, { repository: 'registry.example.com:5000/team/app', digest }],
    ['localhost:5000/app:1', { repository: 'localhost:5000/app', tag: '1' }],
    ['localhost/app', { repository: 'localhost/app' }],
    ['[::1]:5000/app:dev', { repository: '[::1]:5000/app', tag: 'dev' }],
    ['ghcr.io/org/sub/group/app_name__x:2024.06.18', { repository: 'ghcr.io/org/sub/group/app_name__x', tag: '2024.06.18' }],
    // Docker reads a lone host:port as a name with a tag; so do we.
    ['localhost:5000', { repository: 'localhost', tag: '5000' }],
  ])('parses %s', (image, expected) => {
    expect(parseImageReference(image)).toEqual(expected);
  });

  it.each([
    ['', 'the repository is empty'],
    [':v1', 'the repository is empty'],
    ['TEAM', 'is not a repository path'],
    ['team/App', 'is not a repository path'],
    ['team//app', 'is not a repository path'],
    ['team/app-', 'is not a repository path'],
    ['team/app:', 'is not a tag'],
    ['team/app:.hidden', 'is not a tag'],
    [`team/app:${'t'.repeat(129)}`, 'is not a tag'],
    ['team/app@sha256:abc', 'is not a digest'],
    ['team/app@', 'is not a digest'],
    ['bad_host:5000/app', 'is not a registry host'],
    [`${'a'.repeat(256)}`, 'longer than 255'],
  ])('rejects %j with 400', (image, message) => {
    const error = rejection(() => parseImageReference(image));

    expect(error).toBeInstanceOf(Invalid);
    expect(error.message).toContain(message);
  });
});

describe('normaliseRepository', () => {
  it.each(['nginx', 'library/nginx', 'docker.io/library/nginx', 'index.docker.io/library/nginx', 'docker.io/nginx', 'nginx:1.25', 'Docker.IO/library/nginx@sha256:00'])(
    'reads %s as Docker Hub nginx',
    (ref) => {
      expect(normaliseRepository(ref)).toBe('nginx');
    },
  );

  it.each([
    ['iotistic/test-app', 'iotistic/test-app'],
    ['docker.io/iotistic/test-app:v1', 'iotistic/test-app'],
    ['registry.example.com:5000/library/app', 'registry.example.com:5000/library/app'],
    ['Registry.Example.com:5000/team/app:v2', 'registry.example.com:5000/team/app'],
    ['localhost:5000/app:1', 'localhost:5000/app'],
    ['  team/app  ', 'team/app'],
  ])('normalises %s to %s', (ref, expected) => {
    expect(normaliseRepository(ref)).toBe(expected);
  });

  it('agrees with a pushed repository from either registry', () => {
    const hub = dockerHub(dockerHubRequest(fixture('docker-hub-push.json')))[0]?.repository ?? '';
    const own = registry2(distributionRequest(fixture('distribution-envelope.json')))[0]?.repository ?? '';

    expect(normaliseRepository('docker.io/iotistic/test-app:v0.9.0')).toBe(normaliseRepository(hub));
    expect(normaliseRepository(`registry.example.com:5000/team/app:v1@sha256:${'0'.repeat(64)}`)).toBe(normaliseRepository(own));
  });
});
