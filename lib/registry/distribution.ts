/**
 * CNCF Distribution (`registry:2`, `distribution/distribution`) notifications: kind
 * `distribution` (the default route of the same name).
 *
 * The registry POSTs an envelope `{ events: [...] }` for manifest and blob pushes, pulls, mounts
 * and deletes, and retries until it gets a 2xx. Only one kind of event means "a new image to
 * roll out": a push of a manifest (image manifest, OCI index or manifest list) under a tag.
 * Everything else is acknowledged and ignored: blob pushes, pulls, mounts, deletes, and manifests
 * pushed by digest only (the per-platform manifests of a multi-arch push, which arrive
 * untagged before their tagged index).
 *
 * The secret arrives as `Authorization: Bearer <secret>`, set under `notifications.endpoints[].headers`
 * in the registry's configuration.
 */
import { z } from 'zod';
import {
  digestField,
  parseJsonObject,
  registryHostField,
  repositoryPathField,
  requireContentType,
  tagField,
} from './payload';
import { Invalid } from '../errors';
import { validate } from '../validation';
import { parseImageReference } from './image-reference';
import { bearerToken, sharedTokenAuthentication } from './sender-auth';
import type { ImagePushed, RegistryWebhook, SharedToken, WebhookRequest } from './types';

export const DISTRIBUTION = 'distribution';

/** v1 is what registry 2.x sends, v2 what distribution 3.x sends. */
export const EVENTS_MEDIA_TYPES = [
  'application/vnd.docker.distribution.events.v1+json',
  'application/vnd.docker.distribution.events.v2+json',
  'application/json',
];

const MANIFEST_MEDIA_TYPES = new Set([
  'application/vnd.docker.distribution.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.v1+prettyjws',
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.oci.image.index.v1+json',
]);

export const distributionEnvelopeSchema = z.object({ events: z.array(z.record(z.string(), z.unknown())) });

/** Optional strings that Go's `omitempty` normally leaves out but a proxy may send as "". */
const blankAsMissing = (value: unknown) => (value === '' ? undefined : value);

const pushEventSchema = z.object({
  id: z.string().min(1),
  timestamp: z.iso.datetime({ offset: true, error: 'must be an RFC 3339 time' }).optional(),
  target: z.object({
    repository: repositoryPathField,
    tag: tagField,
    digest: z.preprocess(blankAsMissing, digestField.optional()),
  }),
  request: z.object({ host: z.preprocess(blankAsMissing, registryHostField.optional()) }).optional(),
});

function isTaggedManifestPush(event: Record<string, unknown>): boolean {
  if (event.action !== 'push') return false;
  const target = event.target;
  if (typeof target !== 'object' || target === null) return false;
  const { mediaType, url, tag } = target as Record<string, unknown>;
  if (typeof tag !== 'string' || tag === '') return false;
  if (typeof mediaType === 'string' && mediaType !== '') {
    return MANIFEST_MEDIA_TYPES.has(mediaType.toLowerCase());
  }
  return typeof url === 'string' && url.includes('/manifests/');
}

const token: SharedToken = {
  read: bearerToken,
  howToSend: 'send the header "Authorization: Bearer <secret>" (notifications.endpoints[].headers)',
};

export const distribution: RegistryWebhook = {
  sharedToken: token,
  authenticate: sharedTokenAuthentication(token),

  parse(request: WebhookRequest, receivedAt: Date): ImagePushed[] {
    requireContentType(request, EVENTS_MEDIA_TYPES);
    const { events } = validate(distributionEnvelopeSchema, parseJsonObject(request.body));
    const pushes = new Map<string, ImagePushed>();
    events.forEach((raw, index) => {
      if (!isTaggedManifestPush(raw)) return;
      const event = validate(pushEventSchema, raw, { prefix: `events[${index}]` });
      // A retried batch may repeat an event; its id is the registry's own delivery id.
      if (pushes.has(event.id)) return;
      const host = event.request?.host?.toLowerCase();
      // request.host is the Host header of the push, i.e. the name clients (and so devices) use.
      const repository = host === undefined ? event.target.repository : `${host}/${event.target.repository}`;
      // Each part can be valid and the whole not (a host and a path too long together).
      try {
        parseImageReference(`${repository}:${event.target.tag}`);
      } catch (error) {
        throw new Invalid(`events[${index}]: ${error instanceof Error ? error.message : String(error)}`);
      }
      pushes.set(event.id, {
        registry: DISTRIBUTION,
        repository,
        tag: event.target.tag,
        ...(event.target.digest !== undefined ? { digest: event.target.digest } : {}),
        pushed_at: event.timestamp === undefined ? receivedAt.toISOString() : new Date(event.timestamp).toISOString(),
        delivery_id: event.id,
      });
    });
    return [...pushes.values()];
  },
};
