/**
 * GitHub Container Registry, kind `ghcr`: the `package` webhook events of a repository,
 * organisation or GitHub App subscribed to "Packages".
 *
 * GitHub sends one event per published or updated package version, for every ecosystem; only a
 * container (`package_type: CONTAINER`) version under a tag is a push to roll out. The image is
 * `ghcr.io/<owner>/<name>` (lower-cased: GHCR names are, GitHub logins need not be), the tag and
 * digest are `package_version.container_metadata.tag.{name,digest}`. An untagged version (the
 * per-platform manifests of a multi-arch push) has an empty tag name and is ignored. `ping`
 * (sent when the webhook is created) and any other event are acknowledged with no pushes.
 * GitHub Apps receive the same payload as `registry_package`, under that key.
 *
 * The event name is the `X-GitHub-Event` header, the delivery id `X-GitHub-Delivery` (GitHub
 * keeps it when a delivery is redelivered). The body is JSON, or with the webhook's content type
 * set to `application/x-www-form-urlencoded` (GitHub's default for repository webhooks) the
 * same JSON in the form field `payload`.
 *
 * GitHub signs: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body, keyed with the
 * webhook's Secret>`.
 */
import { z } from 'zod';
import { Invalid } from '../errors';
import { validate } from '../validation';
import { PATH_COMPONENT } from './image-reference';
import {
  blankAsMissing,
  checkReference,
  digestField,
  parseJsonObject,
  repositoryPathField,
  requireContentType,
  stableId,
  tagField,
  timeField,
} from './payload';
import { header, hmacSha256Hex, verifyCredential } from './sender-auth';
import { constantTimeEqual } from '../secrets';
import type { ImagePushed, RegistryWebhook, WebhookRequest } from './types';

export const GHCR = 'ghcr';
const GHCR_HOST = 'ghcr.io';

/** Event name (`X-GitHub-Event`) → the body field that holds the package. */
const PACKAGE_EVENTS: Readonly<Record<string, string>> = { package: 'package', registry_package: 'registry_package' };
const PUSH_ACTIONS = new Set(['published', 'updated']);
const FORM = 'application/x-www-form-urlencoded';

const lowerCased = (value: unknown): unknown => (typeof value === 'string' ? value.toLowerCase() : value);

const loginField = z.preprocess(lowerCased, z.string().min(1, { abort: true }).regex(PATH_COMPONENT, 'must be a GitHub login usable in an image name'));

const containerPackageSchema = z.object({
  name: z.preprocess(lowerCased, repositoryPathField),
  /** GitHub may send `owner: null`; the namespace of a container package is its owner's login. */
  owner: z.object({ login: loginField }).nullish(),
  namespace: z.unknown().optional(),
  package_version: z.object({
    id: z.union([z.number(), z.string()]).nullish(),
    version: z.string().nullish(),
    created_at: timeField.nullish(),
    updated_at: timeField.nullish(),
    container_metadata: z
      .object({
        tag: z
          .object({
            name: z.preprocess(blankAsMissing, tagField.optional()),
            digest: z.preprocess(blankAsMissing, digestField.optional()),
          })
          .nullish(),
      })
      .nullish(),
  }),
});

function jsonPayload(request: WebhookRequest): Record<string, unknown> {
  const type = (header(request, 'content-type')?.split(';')[0] ?? '').trim().toLowerCase();
  if (type !== FORM) return parseJsonObject(request.body);
  const payload = new URLSearchParams(request.body).get('payload');
  if (payload === null) throw new Invalid(`payload is required: a ${FORM} body carries the event as the form field "payload"`);
  return parseJsonObject(payload);
}

export const ghcr: RegistryWebhook = {
  authenticate(request: WebhookRequest, secret: string): void {
    verifyCredential(
      header(request, 'x-hub-signature-256'),
      secret,
      (presented) => constantTimeEqual(presented.trim().toLowerCase(), `sha256=${hmacSha256Hex(secret, request.body)}`),
      'set the secret as the webhook\'s Secret in GitHub, which then sends "X-Hub-Signature-256: sha256=<HMAC-SHA256 of the body>"',
    );
  },

  parse(request: WebhookRequest, receivedAt: Date): ImagePushed[] {
    requireContentType(request, ['application/json', FORM]);
    const event = header(request, 'x-github-event')?.trim();
    if (event === undefined || event === '') {
      throw new Invalid('X-GitHub-Event header is required: GitHub names the event there (package, ping, …)');
    }
    const body = jsonPayload(request);
    const key = Object.hasOwn(PACKAGE_EVENTS, event) ? PACKAGE_EVENTS[event] : undefined;
    // ping, and any other event the webhook was subscribed to, carries nothing to roll out.
    if (key === undefined) return [];
    const { action } = validate(z.object({ action: z.string() }), body);
    if (!PUSH_ACTIONS.has(action)) return [];
    const { package_type: type } = validate(z.object({ package_type: z.string() }), body[key], { prefix: key });
    if (type.toLowerCase() !== 'container') return [];

    const pkg = validate(containerPackageSchema, body[key], { prefix: key });
    const version = pkg.package_version;
    const tag = version.container_metadata?.tag?.name;
    if (tag === undefined) return [];
    const owner = pkg.owner?.login ?? validate(loginField, pkg.namespace, { prefix: `${key}.owner.login (or ${key}.namespace)` });
    const repository = `${GHCR_HOST}/${owner}/${pkg.name}`;
    checkReference(repository, tag, `${key}.name`);
    // The version of a container package is its digest; the tag's own digest is the same.
    const versionDigest = digestField.safeParse(version.version);
    const digest = version.container_metadata?.tag?.digest ?? (versionDigest.success ? versionDigest.data : undefined);
    const at = version.updated_at ?? version.created_at;
    const delivery = header(request, 'x-github-delivery')?.trim();
    return [
      {
        registry: GHCR,
        repository,
        tag,
        ...(digest !== undefined ? { digest } : {}),
        pushed_at: at == null ? receivedAt.toISOString() : new Date(at).toISOString(),
        // Without GitHub's header (a proxy dropped it), the version and tag identify the push.
        delivery_id:
          delivery !== undefined && delivery !== ''
            ? delivery
            : stableId(GHCR, repository, tag, digest ?? '', String(version.id ?? ''), action),
      },
    ];
  },
};
