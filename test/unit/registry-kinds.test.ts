/**
 * The registry kinds beyond Docker Hub and Distribution: GHCR, Harbor, Quay, GitLab, ACR, JFrog
 * and ECR. For each: the credential (right, wrong, missing, in the wrong place), replays, every
 * fixture scenario parsed to exactly the pushes it reports, and malformed bodies refused naming
 * the field.
 */
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ClientError, Invalid, NotFound, Unauthorized, UnsupportedMediaType } from '../../lib/errors';
import { parseEcrEvent, parseWebhook, registries, type ImagePushed, type ParseContext, type WebhookRequest } from '../../lib/registry';
import { ACR } from '../../lib/registry/acr';
import { ECR, ecr } from '../../lib/registry/ecr';
import { GHCR } from '../../lib/registry/ghcr';
import { GITLAB } from '../../lib/registry/gitlab';
import { HARBOR } from '../../lib/registry/harbor';
import { JFROG } from '../../lib/registry/jfrog';
import { QUAY } from '../../lib/registry/quay';

const SECRET = 'whsec-4b9e0c2a7d';
const RECEIVED_AT = new Date('2024-07-01T12:00:00.000Z');
const LATER = new Date('2024-07-03T08:30:00.000Z');
const HEX32 = /^[0-9a-f]{32}$/;

function fixture(kind: string, name: string): string {
  return readFileSync(new URL(`../fixtures/registry/${kind}/${name}`, import.meta.url), 'utf8');
}

const json = (kind: string, name: string): any => JSON.parse(fixture(kind, name));

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

const hmac = (key: string, body: string) => createHmac('sha256', key).update(body, 'utf8').digest('hex');
const ghcrHeaders = (): Record<string, string> => json(GHCR, 'headers.json');

/**
 * How each HTTP kind is sent a request: `credential` is the secret the sender knows (it signs
 * with it where the kind signs), `null` leaves the credential out.
 */
const senders: Record<string, (body: string, credential: string | null) => WebhookRequest> = {
  [GHCR]: (body, credential) => ({
    headers: { ...ghcrHeaders(), ...(credential === null ? {} : { 'x-hub-signature-256': `sha256=${hmac(credential, body)}` }) },
    query: {},
    body,
  }),
  [HARBOR]: (body, credential) => ({ headers: { 'content-type': 'application/json', ...(credential === null ? {} : { authorization: credential }) }, query: {}, body }),
  [QUAY]: (body, credential) => ({ headers: { 'content-type': 'application/json' }, query: credential === null ? {} : { token: credential }, body }),
  [GITLAB]: (body, credential) => ({
    headers: { 'content-type': 'application/vnd.docker.distribution.events.v2+json', ...(credential === null ? {} : { authorization: `Bearer ${credential}` }) },
    query: {},
    body,
  }),
  [ACR]: (body, credential) => ({ headers: { 'content-type': 'application/json', ...(credential === null ? {} : { authorization: `Bearer ${credential}` }) }, query: {}, body }),
  [JFROG]: (body, credential) => ({ headers: { 'content-type': 'application/json', ...(credential === null ? {} : { 'x-jfrog-event-auth': credential }) }, query: {}, body }),
};

function send(kind: string, body: string, options: { credential?: string | null; secret?: string; at?: Date; context?: ParseContext } = {}): ImagePushed[] {
  const request = senders[kind]!(body, options.credential === undefined ? SECRET : options.credential);
  return parseWebhook(kind, request, options.secret ?? SECRET, options.at ?? RECEIVED_AT, options.context);
}

/** Per kind: where the 401 says the credential goes, and the right secret presented where it does not go. */
const credentialCases: Record<string, { where: string; wrongPlace: (body: string) => WebhookRequest }> = {
  [GHCR]: { where: 'X-Hub-Signature-256', wrongPlace: (body) => ({ headers: { ...ghcrHeaders(), authorization: `Bearer ${SECRET}` }, query: { token: SECRET }, body }) },
  [HARBOR]: { where: 'Auth Header', wrongPlace: (body) => ({ headers: {}, query: { token: SECRET }, body }) },
  [QUAY]: { where: '?token=', wrongPlace: (body) => ({ headers: { authorization: `Bearer ${SECRET}` }, query: { secret: SECRET }, body }) },
  [GITLAB]: { where: 'Authorization: Bearer', wrongPlace: (body) => ({ headers: { authorization: SECRET }, query: { token: SECRET }, body }) },
  [ACR]: { where: 'Authorization: Bearer', wrongPlace: (body) => ({ headers: { authorization: SECRET }, query: { token: SECRET }, body }) },
  [JFROG]: { where: 'X-JFrog-Event-Auth', wrongPlace: (body) => ({ headers: { authorization: `Bearer ${SECRET}` }, query: { token: SECRET }, body }) },
};

describe('sender authentication, every HTTP kind', () => {
  it('covers every kind the registries map knows', () => {
    // ECR's pushes come as AWS events, not webhooks: it is no key of the map (lib/registry/index.ts `eventKinds`).
    expect(Object.keys(registries).sort()).toEqual([...Object.keys(senders), 'distribution', 'docker-hub'].sort());
  });

  describe.each(Object.keys(senders))('%s', (kind) => {
    const body = fixture(kind, 'push.json');
    const { where, wrongPlace } = credentialCases[kind]!;

    it('accepts the right credential', () => {
      expect(send(kind, body).length).toBeGreaterThan(0);
    });

    it('rejects a wrong credential with 401 saying where the credential belongs', () => {
      const error = rejection(() => send(kind, body, { credential: `${SECRET}x` }));

      expect(error).toBeInstanceOf(Unauthorized);
      expect(error.statusCode).toBe(401);
      expect(error.message).toMatch(/^webhook credential is not valid: /);
      expect(error.message).toContain(where);
    });

    it('rejects a missing credential with another 401, also saying where it belongs', () => {
      const error = rejection(() => send(kind, body, { credential: null }));

      expect(error).toBeInstanceOf(Unauthorized);
      expect(error.message).toMatch(/^webhook credential is missing: /);
      expect(error.message).toContain(where);
    });

    it('does not take the secret from where this registry does not send it', () => {
      expect(rejection(() => parseWebhook(kind, wrongPlace(body), SECRET, RECEIVED_AT))).toBeInstanceOf(Unauthorized);
    });

    it('rejects everything when no secret is configured, even a request made with the empty secret', () => {
      expect(rejection(() => send(kind, body, { credential: '', secret: '' })).message).toContain('no webhook secret is configured');
      expect(rejection(() => send(kind, body, { secret: '' }))).toBeInstanceOf(Unauthorized);
    });

    it('authenticates before reading the body', () => {
      expect(rejection(() => send(kind, 'not json', { credential: 'wrong' }))).toBeInstanceOf(Unauthorized);
      expect(rejection(() => send(kind, 'not json')).message).toBe('body is not valid JSON');
    });

    it('gives a delivery posted again, later, the same delivery ids', () => {
      const first = send(kind, body);
      const again = send(kind, body, { at: LATER });

      expect(again.map((push) => push.delivery_id)).toEqual(first.map((push) => push.delivery_id));
      expect(new Set(first.map((push) => push.delivery_id)).size).toBe(first.length);
    });
  });
});

describe('ghcr (GitHub package events)', () => {
  const push: ImagePushed = {
    registry: 'ghcr',
    repository: 'ghcr.io/edge-fleet/sensor-agent',
    tag: '2.4.0',
    digest: 'sha256:1bc04b5291c26a46d918139138b992d2de976d6851d0893b0476b85bfbdfc6e6',
    pushed_at: '2024-06-18T07:03:01.000Z',
    delivery_id: '8f3d6a40-2c1b-11ef-8e5a-6b1f0c9d2e47',
  };

  /** A GitHub request for `body`, with these headers over the fixture's. */
  function github(body: string, headers: Record<string, string | undefined> = {}): WebhookRequest {
    return { headers: { ...ghcrHeaders(), 'x-hub-signature-256': `sha256=${hmac(SECRET, body)}`, ...headers }, query: {}, body };
  }
  const ghcr = (request: WebhookRequest) => parseWebhook(GHCR, request, SECRET, RECEIVED_AT);

  it('turns a published container version into a push of ghcr.io/<owner>/<name>, lower-cased, with its digest and delivery id', () => {
    expect(ghcr(github(fixture(GHCR, 'push.json')))).toEqual([push]);
  });

  it('counts an updated version (a tag added to it) too', () => {
    const payload = json(GHCR, 'push.json');
    payload.action = 'updated';

    expect(ghcr(github(JSON.stringify(payload)))).toEqual([push]);
  });

  it.each([
    ['an untagged version (a per-platform manifest)', 'push-untagged.json', 'package'],
    ['an npm package', 'non-image.json', 'package'],
    ['a ping', 'ping.json', 'ping'],
    ['another event the hook is subscribed to', 'ping.json', 'push'],
  ])('ignores %s without error', (_, name, event) => {
    expect(ghcr(github(fixture(GHCR, name), { 'x-github-event': event }))).toEqual([]);
  });

  it('reads the registry_package event GitHub Apps receive, under its own key', () => {
    const { package: pkg, ...rest } = json(GHCR, 'push.json');
    const body = JSON.stringify({ ...rest, registry_package: pkg });

    expect(ghcr(github(body, { 'x-github-event': 'registry_package' }))).toEqual([push]);
  });

  it('reads a form-encoded delivery (payload=<JSON>), whose signature is over the form body', () => {
    const body = new URLSearchParams({ payload: fixture(GHCR, 'push.json') }).toString();

    expect(ghcr(github(body, { 'content-type': 'application/x-www-form-urlencoded' }))).toEqual([push]);
  });

  it('takes the owner from package.namespace when GitHub sends owner: null', () => {
    const payload = json(GHCR, 'push.json');
    payload.package.owner = null;

    expect(ghcr(github(JSON.stringify(payload)))[0]?.repository).toBe('ghcr.io/edge-fleet/sensor-agent');
  });

  it('falls back to the version as digest, and to the creation time, when the tag has no digest and the version no update time', () => {
    const payload = json(GHCR, 'push.json');
    delete payload.package.package_version.container_metadata.tag.digest;
    payload.package.package_version.updated_at = null;
    const [parsed] = ghcr(github(JSON.stringify(payload)));

    expect(parsed?.digest).toBe(push.digest);
    expect(parsed?.pushed_at).toBe('2024-06-18T07:02:58.000Z');
  });

  it('tells deliveries apart by X-GitHub-Delivery, and without it by version and tag', () => {
    const body = fixture(GHCR, 'push.json');
    const other = ghcr(github(body, { 'x-github-delivery': '1c7e2b90-2c1c-11ef-9f1d-7a2e4c1b3d58' }))[0]?.delivery_id;
    const withoutHeader = (text: string) => ghcr(github(text, { 'x-github-delivery': undefined }))[0]?.delivery_id;
    const payload = json(GHCR, 'push.json');
    payload.package.package_version.container_metadata.tag.name = '2.4.1';

    expect(other).toBe('1c7e2b90-2c1c-11ef-9f1d-7a2e4c1b3d58');
    expect(withoutHeader(body)).toMatch(HEX32);
    expect(withoutHeader(body)).toBe(withoutHeader(JSON.stringify(JSON.parse(body))));
    expect(withoutHeader(JSON.stringify(payload))).not.toBe(withoutHeader(body));
  });

  it('rejects a signature of another body, and accepts the hex in upper case', () => {
    const body = fixture(GHCR, 'push.json');
    const tampered = body.replace('2.4.0', '6.6.6');

    expect(rejection(() => ghcr({ ...github(body), body: tampered }))).toBeInstanceOf(Unauthorized);
    expect(ghcr(github(body, { 'x-hub-signature-256': `sha256=${hmac(SECRET, body).toUpperCase()}` }))).toEqual([push]);
    expect(rejection(() => ghcr(github(body, { 'x-hub-signature-256': hmac(SECRET, body) })))).toBeInstanceOf(Unauthorized);
  });

  const mutated = (change: (payload: any) => void) => {
    const payload = json(GHCR, 'push.json');
    change(payload);
    return JSON.stringify(payload);
  };

  it.each([
    [mutated((p) => delete p.action), 'action is required'],
    [mutated((p) => delete p.package), 'package is required'],
    [mutated((p) => delete p.package.package_type), 'package.package_type is required'],
    [mutated((p) => delete p.package.name), 'package.name is required'],
    [mutated((p) => (p.package.name = 'sensor agent')), 'package.name must be a repository path'],
    [mutated((p) => (p.package.owner.login = 'edge fleet')), 'package.owner.login must be a GitHub login'],
    [mutated((p) => ((p.package.owner = null), (p.package.namespace = undefined))), 'package.owner.login (or package.namespace) is required'],
    [mutated((p) => (p.package.package_version.container_metadata.tag.name = '-rc')), 'package.package_version.container_metadata.tag.name must be a tag'],
    [mutated((p) => (p.package.package_version.container_metadata.tag.digest = 'sha256:abc')), 'package.package_version.container_metadata.tag.digest must be a digest'],
    [mutated((p) => (p.package.package_version.updated_at = 'yesterday')), 'package.package_version.updated_at must be an RFC 3339 time'],
    [mutated((p) => (p.package.name = 'a'.repeat(250))), 'package.name: image reference'],
  ].map(([body, message]) => [message!, body!] as const))('refuses the body with 400: %s', (message, body) => {
    const error = rejection(() => ghcr(github(body)));

    expect(error).toBeInstanceOf(Invalid);
    expect(error.message).toContain(message);
  });

  it('refuses a request without X-GitHub-Event, a form without payload, and other media types', () => {
    const body = fixture(GHCR, 'push.json');

    expect(rejection(() => ghcr(github(body, { 'x-github-event': undefined }))).message).toContain('X-GitHub-Event header is required');
    expect(rejection(() => ghcr(github('ref=main', { 'content-type': 'application/x-www-form-urlencoded' }))).message).toContain('payload is required');
    expect(rejection(() => ghcr(github(body, { 'content-type': 'text/plain' })))).toBeInstanceOf(UnsupportedMediaType);
  });
});

describe('harbor', () => {
  const push: ImagePushed = {
    registry: 'harbor',
    repository: 'harbor.example.com/edge/gateway',
    tag: '1.8.2',
    digest: 'sha256:69bba4d1ac5a5cef6bb391e3e4f910899380d350611e1ddcd96b7cf34421c8ae',
    pushed_at: '2024-06-18T07:02:56.000Z',
    delivery_id: expect.stringMatching(HEX32) as unknown as string,
  };
  const harbor = (body: string, options: { authorization?: string; contentType?: string; context?: ParseContext } = {}) =>
    parseWebhook(
      HARBOR,
      { headers: { 'content-type': options.contentType ?? 'application/json', authorization: options.authorization ?? SECRET }, query: {}, body },
      SECRET,
      RECEIVED_AT,
      options.context,
    );

  it('turns a Default PUSH_ARTIFACT into a push of <host of resource_url>/<repo_full_name>, dated occur_at', () => {
    expect(harbor(fixture(HARBOR, 'push.json'))).toEqual([push]);
  });

  it('reads the same push in the CloudEvents format, whose id is the delivery id', () => {
    const pushes = harbor(fixture(HARBOR, 'push-cloudevents.json'), { contentType: 'application/cloudevents+json' });

    expect(pushes).toEqual([{ ...push, delivery_id: '33b20aac-e525-4649-a378-795267835903' }]);
  });

  it('accepts the Auth Header as the bare secret or as "Bearer <secret>", and nothing else', () => {
    const body = fixture(HARBOR, 'push.json');

    expect(harbor(body, { authorization: `Bearer ${SECRET}` })).toHaveLength(1);
    expect(harbor(body, { authorization: `bearer ${SECRET}` })).toHaveLength(1);
    for (const authorization of [`Basic ${SECRET}`, `Bearer ${SECRET}x`, `${SECRET} `.repeat(2), SECRET.slice(1)]) {
      expect(rejection(() => harbor(body, { authorization })), authorization).toBeInstanceOf(Unauthorized);
    }
  });

  it.each([
    ['a push by digest only (its tag is the digest)', 'push-untagged.json'],
    ['a delete', 'delete.json'],
    ['a Helm chart uploaded to ChartMuseum', 'non-image.json'],
    ['a scan result', 'scan-completed.json'],
  ])('ignores %s without error', (_, name) => {
    expect(harbor(fixture(HARBOR, name))).toEqual([]);
  });

  it.each(['harbor.artifact.deleted', 'harbor.artifact.pulled', 'harbor.scan.completed'])('ignores a CloudEvent of type %s', (type) => {
    const event = json(HARBOR, 'push-cloudevents.json');
    event.type = type;

    expect(harbor(JSON.stringify(event))).toEqual([]);
  });

  it('gives each tag of a multi-tag event its own delivery id, the CloudEvents id followed by the tag', () => {
    const event = json(HARBOR, 'push-cloudevents.json');
    const [resource] = event.data.resources;
    event.data.resources.push({ ...resource, tag: 'stable', resource_url: 'harbor.example.com/edge/gateway:stable' });

    expect(harbor(JSON.stringify(event)).map((p) => [p.tag, p.delivery_id])).toEqual([
      ['1.8.2', '33b20aac-e525-4649-a378-795267835903:1.8.2'],
      ['stable', '33b20aac-e525-4649-a378-795267835903:stable'],
    ]);
  });

  it('tells Default deliveries apart by push time and digest, and keeps the id of a re-serialised repost', () => {
    const body = fixture(HARBOR, 'push.json');
    const id = (text: string) => harbor(text)[0]?.delivery_id;
    const later = json(HARBOR, 'push.json');
    later.occur_at += 60;
    const rebuilt = json(HARBOR, 'push.json');
    rebuilt.event_data.resources[0].digest = 'sha256:d1ca6afd3a641fdb4a74ed81b906079876aa6dd3e93077ef883373293ca8d755';

    expect(id(JSON.stringify(JSON.parse(body)))).toBe(id(body));
    expect(new Set([id(body), id(JSON.stringify(later)), id(JSON.stringify(rebuilt))]).size).toBe(3);
  });

  it('takes the host from resource_url in any case and with a port, and from the configuration only when resource_url is missing', () => {
    const withPort = json(HARBOR, 'push.json');
    withPort.event_data.resources[0].resource_url = 'Harbor.Example.com:8443/edge/gateway:1.8.2';
    const without = json(HARBOR, 'push.json');
    delete without.event_data.resources[0].resource_url;

    expect(harbor(JSON.stringify(withPort))[0]?.repository).toBe('harbor.example.com:8443/edge/gateway');
    expect(harbor(JSON.stringify(without), { context: { host: 'registry.example.net' } })[0]?.repository).toBe('registry.example.net/edge/gateway');
    expect(harbor(fixture(HARBOR, 'push.json'), { context: { host: 'registry.example.net' } })[0]?.repository).toBe(push.repository);
  });

  const mutated = (name: string, change: (payload: any) => void) => {
    const payload = json(HARBOR, name);
    change(payload);
    return JSON.stringify(payload);
  };

  it.each([
    [mutated('push.json', (p) => delete p.type), 'type is required'],
    [mutated('push.json', (p) => delete p.event_data), 'event_data is required'],
    [mutated('push.json', (p) => (p.occur_at = '1718694176')), 'occur_at must be a number'],
    [mutated('push.json', (p) => (p.event_data.resources = {})), 'event_data.resources must be an array'],
    [mutated('push.json', (p) => (p.event_data.resources[0].tag = '-rc')), 'event_data.resources[0].tag must be a tag'],
    [mutated('push.json', (p) => (p.event_data.resources[0].digest = 'sha256:abc')), 'event_data.resources[0].digest must be a digest'],
    [mutated('push.json', (p) => (p.event_data.repository.repo_full_name = 'Edge/Gateway')), 'event_data.repository.repo_full_name must be a repository path'],
    [mutated('push.json', (p) => (p.event_data.resources[0].resource_url = 'gateway:1.8.2')), 'event_data.resources[0].resource_url must start with'],
    [mutated('push.json', (p) => delete p.event_data.resources[0].resource_url), 'event_data.resources[0].resource_url is required'],
    [mutated('push-cloudevents.json', (p) => delete p.id), 'id is required'],
    [mutated('push-cloudevents.json', (p) => (p.time = 'yesterday')), 'time must be an RFC 3339 time'],
    [mutated('push-cloudevents.json', (p) => delete p.data), 'data is required'],
  ].map(([body, message]) => [message!, body!] as const))('refuses the body with 400: %s', (message, body) => {
    const error = rejection(() => harbor(body));

    expect(error).toBeInstanceOf(Invalid);
    expect(error.message).toContain(message);
  });
});

describe('quay', () => {
  const quay = (body: string, at = RECEIVED_AT) => parseWebhook(QUAY, { headers: { 'content-type': 'application/json' }, query: { token: SECRET }, body }, SECRET, at);

  it('turns a repository push into one push per updated tag, to docker_url, dated at receipt, without digest', () => {
    const pushes = quay(fixture(QUAY, 'push.json'));
    const base = pushes[0]?.delivery_id.split(':')[0];

    expect(pushes).toEqual([
      { registry: 'quay', repository: 'quay.io/edgeworks/camera-relay', tag: '3.1.0', pushed_at: RECEIVED_AT.toISOString(), delivery_id: `${base}:3.1.0` },
      { registry: 'quay', repository: 'quay.io/edgeworks/camera-relay', tag: 'latest', pushed_at: RECEIVED_AT.toISOString(), delivery_id: `${base}:latest` },
    ]);
    expect(base).toMatch(HEX32);
  });

  it("reads older Quay's updated_tags object (tag → image id), and a self-hosted Quay's own host", () => {
    expect(quay(fixture(QUAY, 'push-legacy.json'))).toEqual([
      { registry: 'quay', repository: 'registry.edgeworks.example/edgeworks/camera-relay', tag: '3.0.4', pushed_at: RECEIVED_AT.toISOString(), delivery_id: expect.stringMatching(HEX32) },
    ]);
  });

  it.each([
    ['a push with no tags (by digest)', 'push-untagged.json'],
    ['a build notification sent to the same URL', 'non-image.json'],
  ])('ignores %s without error', (_, name) => {
    expect(quay(fixture(QUAY, name))).toEqual([]);
  });

  it('identifies a delivery by its content: a repost (in any key order) is the same, other tags or another repository are not', () => {
    const id = (payload: unknown) => quay(JSON.stringify(payload))[0]?.delivery_id;
    const payload = json(QUAY, 'push.json');
    const reordered = Object.fromEntries(Object.entries(payload).reverse());

    expect(id(reordered)).toBe(id(payload));
    expect(id({ ...payload, updated_tags: ['3.1.1', 'latest'] })).not.toBe(id(payload));
    expect(id({ ...payload, docker_url: 'quay.io/edgeworks/camera-relay-beta' })).not.toBe(id(payload));
  });

  it.each([
    [{ updated_tags: ['v1'] }, 'docker_url is required'],
    [{ docker_url: 'edgeworks/camera-relay', updated_tags: ['v1'] }, 'docker_url must be the repository as devices pull it'],
    [{ docker_url: 'quay.io/edgeworks/camera-relay:v1', updated_tags: ['v1'] }, 'docker_url must be the repository as devices pull it'],
    [{ docker_url: 'quay.io/edgeworks/camera-relay' }, 'updated_tags is required'],
    [{ docker_url: 'quay.io/edgeworks/camera-relay', updated_tags: 'v1' }, 'updated_tags must be an array'],
    [{ docker_url: 'quay.io/edgeworks/camera-relay', updated_tags: ['v1', '-rc'] }, 'updated_tags[1] must be a tag'],
  ])('rejects %j with 400 naming the field', (payload, message) => {
    const error = rejection(() => quay(JSON.stringify(payload)));

    expect(error).toBeInstanceOf(Invalid);
    expect(error.message).toContain(message);
  });
});

describe('gitlab (Distribution envelope)', () => {
  const gitlab = (body: string, context?: ParseContext) =>
    parseWebhook(GITLAB, { headers: { 'content-type': 'application/vnd.docker.distribution.events.v2+json', authorization: `Bearer ${SECRET}` }, query: {}, body }, SECRET, RECEIVED_AT, context);

  it('keeps the tagged manifest push of the envelope, host-qualified, with the event id as delivery id', () => {
    expect(gitlab(fixture(GITLAB, 'push.json'))).toEqual([
      {
        registry: 'gitlab',
        repository: 'registry.gitlab.example.com/edge-team/firmware/updater',
        tag: 'v5.2.0',
        digest: 'sha256:f4db292b57807f4e8ae668fbbe90aff7575d80e23554070efece7e35bd840b95',
        pushed_at: '2024-06-18T10:41:12.604Z',
        delivery_id: '51dd8a83-4541-4674-861e-ea32a8a58386',
      },
    ]);
  });

  it.each([
    ['an untagged manifest push', 'push-untagged.json'],
    ['a delete', 'delete.json'],
    ["a Helm chart's blobs", 'non-image.json'],
  ])('ignores %s without error', (_, name) => {
    expect(gitlab(fixture(GITLAB, name))).toEqual([]);
  });

  it('gives another event another delivery id', () => {
    const envelope = json(GITLAB, 'push.json');
    envelope.events[1].id = 'a1f0c3e2-5d4b-4c69-8e7a-0b9d2f6c3e15';

    expect(gitlab(JSON.stringify(envelope))[0]?.delivery_id).toBe('a1f0c3e2-5d4b-4c69-8e7a-0b9d2f6c3e15');
  });

  it('uses the configured host only for an event that names none', () => {
    const envelope = json(GITLAB, 'push.json');
    delete envelope.events[1].request.host;

    expect(gitlab(JSON.stringify(envelope), { host: 'Registry.Example.net' })[0]?.repository).toBe('registry.example.net/edge-team/firmware/updater');
    expect(gitlab(fixture(GITLAB, 'push.json'), { host: 'registry.example.net' })[0]?.repository).toBe('registry.gitlab.example.com/edge-team/firmware/updater');
  });

  it.each([
    ['{}', 'events is required'],
    [JSON.stringify({ events: [{ ...json(GITLAB, 'push.json').events[1], id: '' }] }), 'events[0].id must not be empty'],
    [JSON.stringify({ events: [{ ...json(GITLAB, 'push.json').events[1], target: { mediaType: 'application/vnd.oci.image.manifest.v1+json', tag: 'v1' } }] }), 'events[0].target.repository is required'],
  ].map(([body, message]) => [message!, body!] as const))('refuses the body with 400: %s', (message, body) => {
    expect(rejection(() => gitlab(body)).message).toContain(message);
  });
});

describe('acr (Azure Container Registry)', () => {
  const acr = (body: string, context?: ParseContext) =>
    parseWebhook(ACR, { headers: { 'content-type': 'application/json', authorization: `Bearer ${SECRET}` }, query: {}, body }, SECRET, RECEIVED_AT, context);

  it('turns a push event into a push of <request.host>/<repository>, with the event id as delivery id', () => {
    expect(acr(fixture(ACR, 'push.json'))).toEqual([
      {
        registry: 'acr',
        repository: 'contosofleet.azurecr.io/plant/line-monitor',
        tag: '2024.06.3',
        digest: 'sha256:1f772f06b41d58a3333dc1906bd4b41cf4dfe8ee2c512f77a5c8ae0dc8000f9f',
        pushed_at: '2024-06-18T12:20:44.917Z',
        delivery_id: '4c1e9a7b-2f3d-4b86-9e05-d7a2c8f1b340',
      },
    ]);
  });

  it.each([
    ['an untagged push', 'push-untagged.json'],
    ['a delete', 'delete.json'],
    ['a Helm chart push (chart_push)', 'non-image.json'],
    ['a quarantine', 'quarantine.json'],
  ])('ignores %s without error', (_, name) => {
    expect(acr(fixture(ACR, name))).toEqual([]);
  });

  it('gives another event another delivery id', () => {
    const event = json(ACR, 'push.json');
    event.id = 'd93b0e4f-6a2c-4715-8f1e-2c7a9b3d5e60';

    expect(acr(JSON.stringify(event))[0]?.delivery_id).toBe('d93b0e4f-6a2c-4715-8f1e-2c7a9b3d5e60');
  });

  const mutated = (change: (event: any) => void) => {
    const event = json(ACR, 'push.json');
    change(event);
    return JSON.stringify(event);
  };

  it.each([
    [mutated((e) => delete e.id), 'id is required'],
    [mutated((e) => (e.timestamp = 'yesterday')), 'timestamp must be an RFC 3339 time'],
    [mutated((e) => (e.target.repository = 'Plant/Line-Monitor')), 'target.repository must be a repository path'],
    [mutated((e) => (e.target.tag = '.hidden')), 'target.tag must be a tag'],
    [mutated((e) => (e.target.digest = 'sha256:abc')), 'target.digest must be a digest'],
    [mutated((e) => (e.request.host = 'contoso fleet')), 'request.host must be a host name'],
    [mutated((e) => (e.request.host = 'a'.repeat(250))), 'target: image reference'],
    ['[]', 'body must be a JSON object'],
  ].map(([body, message]) => [message!, body!] as const))('refuses the body with 400: %s', (message, body) => {
    const error = rejection(() => acr(body));

    expect(error).toBeInstanceOf(Invalid);
    expect(error.message).toContain(message);
  });
});

describe('jfrog (Artifactory docker domain)', () => {
  const push: ImagePushed = {
    registry: 'jfrog',
    repository: 'northwind.jfrog.io/edge-docker-local/kiosk/display-app',
    tag: '4.2.1',
    digest: 'sha256:c9986c82a927d6c6364232b4addebb8a7d79e08e3a4421ae57c96cdcf51d4135',
    pushed_at: RECEIVED_AT.toISOString(),
    delivery_id: expect.stringMatching(HEX32) as unknown as string,
  };
  const jfrog = (body: string, options: { auth?: string; context?: ParseContext } = {}) =>
    parseWebhook(JFROG, { headers: { 'content-type': 'application/json', 'x-jfrog-event-auth': options.auth ?? SECRET }, query: {}, body }, SECRET, RECEIVED_AT, options.context);

  it('turns a pushed tag into a push of <host>/<repo_key>/<image_name>, the host from jpd_origin when none is configured', () => {
    expect(jfrog(fixture(JFROG, 'push.json'))).toEqual([push]);
  });

  it('prefers the configured host, the one devices pull from', () => {
    const [parsed] = jfrog(fixture(JFROG, 'push.json'), { context: { host: 'Docker.Northwind.example:8443' } });

    expect(parsed?.repository).toBe('docker.northwind.example:8443/edge-docker-local/kiosk/display-app');
  });

  it('refuses a push when neither the configuration nor the payload names a host, saying what to configure', () => {
    const payload = json(JFROG, 'push.json');
    delete payload.jpd_origin;
    const error = rejection(() => jfrog(JSON.stringify(payload)));

    expect(error).toBeInstanceOf(Invalid);
    expect(error.statusCode).toBe(400);
    expect(error.message).toContain('configure the host devices pull from');
    expect(jfrog(JSON.stringify(payload), { context: { host: 'northwind.jfrog.io' } })).toEqual([push]);
  });

  it('accepts X-JFrog-Event-Auth as the secret or as the hex HMAC-SHA256 of the body, and rejects a signature of another body', () => {
    const body = fixture(JFROG, 'push.json');

    expect(jfrog(body, { auth: hmac(SECRET, body) })).toEqual([push]);
    expect(jfrog(body, { auth: hmac(SECRET, body).toUpperCase() })).toEqual([push]);
    expect(rejection(() => jfrog(body, { auth: hmac(SECRET, `${body} `) }))).toBeInstanceOf(Unauthorized);
    expect(rejection(() => jfrog(body, { auth: hmac(`${SECRET}x`, body) }))).toBeInstanceOf(Unauthorized);
  });

  it.each([
    ['a push by digest only', 'push-untagged.json'],
    ['a deleted tag', 'delete.json'],
    ['a promotion', 'promoted.json'],
    ['an artifact of another domain', 'non-image.json'],
  ])('ignores %s without error', (_, name) => {
    expect(jfrog(fixture(JFROG, name))).toEqual([]);
  });

  it('tells pushes apart by digest and tag, and keeps the id of a repost', () => {
    const id = (payload: unknown) => jfrog(JSON.stringify(payload))[0]?.delivery_id;
    const payload = json(JFROG, 'push.json');

    expect(id(JSON.parse(JSON.stringify(payload)))).toBe(id(payload));
    expect(id({ ...payload, data: { ...payload.data, sha256: '63bba24823cce7e63babd2558298f9c44694474deec6b34653464e12af6a7e2d' } })).not.toBe(id(payload));
    expect(id({ ...payload, data: { ...payload.data, tag: '4.2.2' } })).not.toBe(id(payload));
  });

  const mutated = (change: (payload: any) => void) => {
    const payload = json(JFROG, 'push.json');
    change(payload);
    return JSON.stringify(payload);
  };

  it.each([
    [mutated((p) => delete p.domain), 'domain is required'],
    [mutated((p) => delete p.data), 'data is required'],
    [mutated((p) => (p.data.repo_key = 'Edge Docker')), 'data.repo_key must be a Docker repository key'],
    [mutated((p) => delete p.data.image_name), 'data.image_name is required'],
    [mutated((p) => (p.data.image_name = 'Kiosk/App')), 'data.image_name must be a repository path'],
    [mutated((p) => (p.data.tag = '-rc')), 'data.tag must be a tag'],
    [mutated((p) => (p.data.sha256 = 'sample_checksum')), 'data.sha256 must be 64 lower-case hex digits'],
    [mutated((p) => (p.jpd_origin = 'northwind')), 'jpd_origin must be a URL'],
  ].map(([body, message]) => [message!, body!] as const))('refuses the body with 400: %s', (message, body) => {
    const error = rejection(() => jfrog(body));

    expect(error).toBeInstanceOf(Invalid);
    expect(error.message).toContain(message);
  });
});

describe('ecr (EventBridge)', () => {
  const push: ImagePushed = {
    registry: 'ecr',
    repository: '210987654321.dkr.ecr.eu-central-1.amazonaws.com/fleet/telemetry-forwarder',
    tag: 'v3.0.1',
    digest: 'sha256:416677e7f9515d606b28d2a2d3876e02e0cdeca978dfb82ab07fec26a34e1992',
    pushed_at: '2024-06-18T14:07:31.000Z',
    delivery_id: '5e1a9c3d-7b24-6f80-e2d1-9a4c7b0e3f52',
  };

  it('turns a successful tagged push into a push of <account>.dkr.ecr.<region>.amazonaws.com/<repository>', () => {
    expect(parseEcrEvent(json(ECR, 'push.json'))).toEqual([push]);
  });

  it('gives a retried event the same delivery id and another event its own', () => {
    const event = json(ECR, 'push.json');

    expect(parseEcrEvent(structuredClone(event))).toEqual(parseEcrEvent(event));
    expect(parseEcrEvent({ ...event, id: '7a0c4e2b-1d39-58f6-b4a2-e6c9d1f3b087' })[0]?.delivery_id).toBe('7a0c4e2b-1d39-58f6-b4a2-e6c9d1f3b087');
  });

  it('names the China regions by their own domain', () => {
    expect(parseEcrEvent({ ...json(ECR, 'push.json'), region: 'cn-north-1' })[0]?.repository).toBe('210987654321.dkr.ecr.cn-north-1.amazonaws.com.cn/fleet/telemetry-forwarder');
  });

  it.each([
    ['an untagged push', 'push-untagged.json'],
    ['a delete', 'delete.json'],
    ['a Helm chart', 'non-image.json'],
    ['a failed push', 'push-failed.json'],
  ])('ignores %s without error', (_, name) => {
    expect(parseEcrEvent(json(ECR, name))).toEqual([]);
  });

  it('ignores the other ECR events', () => {
    expect(parseEcrEvent({ ...json(ECR, 'push.json'), 'detail-type': 'ECR Image Scan' })).toEqual([]);
  });

  const mutated = (change: (event: any) => void) => {
    const event = json(ECR, 'push.json');
    change(event);
    return event;
  };

  it.each([
    ['not an object', 'PUSH', 'event must be an object'],
    ['another source', mutated((e) => (e.source = 'aws.s3')), 'source must be "aws.ecr"'],
    ['no id', mutated((e) => delete e.id), 'id is required'],
    ['a bad account', mutated((e) => (e.account = '2109876543')), 'account must be a 12-digit AWS account id'],
    ['a bad region', mutated((e) => (e.region = 'Frankfurt')), 'region must be an AWS region'],
    ['a bad time', mutated((e) => (e.time = 'now')), 'time must be an RFC 3339 time'],
    ['no detail', mutated((e) => delete e.detail), 'detail is required'],
    ['a bad repository', mutated((e) => (e.detail['repository-name'] = 'Fleet/App')), 'detail.repository-name must be a repository path'],
    ['a bad tag', mutated((e) => (e.detail['image-tag'] = '-rc')), 'detail.image-tag must be a tag'],
    ['a bad digest', mutated((e) => (e.detail['image-digest'] = 'sha256:abc')), 'detail.image-digest must be a digest'],
  ])('rejects an event with %s, naming the field', (_, event, message) => {
    const error = rejection(() => parseEcrEvent(event));

    expect(error).toBeInstanceOf(Invalid);
    expect(error.message).toContain(message);
  });

  it('closes the HTTP side: every request is a 401 saying ECR pushes come through EventBridge, and it sends no webhooks', () => {
    const body = fixture(ECR, 'push.json');
    const requests: WebhookRequest[] = [
      { headers: {}, query: {}, body },
      { headers: { authorization: `Bearer ${SECRET}` }, query: { token: SECRET }, body },
    ];
    for (const request of requests) {
      for (const secret of [SECRET, '']) {
        const error = rejection(() => ecr.authenticate(request, secret));
        expect(error).toBeInstanceOf(Unauthorized);
        expect(error.message).toContain('EventBridge');
        expect(rejection(() => parseWebhook(ECR, request, secret, RECEIVED_AT))).toBeInstanceOf(NotFound);
      }
    }
  });
});
