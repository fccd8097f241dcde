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
 *
 * GitLab's container registry (a fork of Distribution) sends the same envelope, and Azure
 * Container Registry one such event on its own, so `distributionPushes` and `manifestPush` are
 * shared with `gitlab.ts` and `acr.ts`.
 */
import { z } from 'zod';
import {
  blankAsMissing,
  checkReference,
  digestField,
  parseJsonObject,
  registryHostField,
  repositoryPathField,
  requireContentType,
  tagField,
  timeField,
} from './payload';
import { validate } from '../validation';
import { bearerToken, sharedTokenAuthentication } from './sender-auth';
import type { ImagePushed, ParseContext, RegistryWebhook, SharedToken, WebhookRequest } from './types';

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

const pushEventSchema = z.object({
  id: z.string().min(1),
  timestamp: timeField.optional(),
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

/**
 * The push one Distribution-shaped event reports, or undefined when it reports none to roll out.
 * Only a tagged manifest push is validated; other events may be of any shape.
 *
 * @param registry the kind the push is reported as
 * @param prefix where the event is in the body (`events[2]`), for messages; '' when it is the body
 * @param context.host the repository's host when the event names none in `request.host`
 */
export function manifestPush(
  raw: Record<string, unknown>,
  registry: string,
  prefix: string,
  receivedAt: Date,
  context?: ParseContext,
): ImagePushed | undefined {
  if (!isTaggedManifestPush(raw)) return undefined;
  const event = validate(pushEventSchema, raw, { prefix });
  // request.host is the Host header of the push, i.e. the name clients (and so devices) use.
  const host = (event.request?.host ?? context?.host)?.toLowerCase();
  const repository = host === undefined ? event.target.repository : `${host}/${event.target.repository}`;
  checkReference(repository, event.target.tag, prefix === '' ? 'target' : prefix);
  return {
    registry,
    repository,
    tag: event.target.tag,
    ...(event.target.digest !== undefined ? { digest: event.target.digest } : {}),
    pushed_at: event.timestamp === undefined ? receivedAt.toISOString() : new Date(event.timestamp).toISOString(),
    // The registry's own id of the event.
    delivery_id: event.id,
  };
}

/** The tagged manifest pushes of a Distribution envelope, each once, in order. */
export function distributionPushes(request: WebhookRequest, registry: string, receivedAt: Date, context?: ParseContext): ImagePushed[] {
  requireContentType(request, EVENTS_MEDIA_TYPES);
  const { events } = validate(distributionEnvelopeSchema, parseJsonObject(request.body));
  const pushes = new Map<string, ImagePushed>();
  events.forEach((raw, index) => {
    const push = manifestPush(raw, registry, `events[${index}]`, receivedAt, context);
    // A retried batch may repeat an event; its id is the registry's own delivery id.
    if (push !== undefined && !pushes.has(push.delivery_id)) pushes.set(push.delivery_id, push);
  });
  return [...pushes.values()];
}

const token: SharedToken = {
  read: bearerToken,
  howToSend: 'send the header "Authorization: Bearer <secret>" (notifications.endpoints[].headers)',
};

export const distribution: RegistryWebhook = {
  sharedToken: token,
  authenticate: sharedTokenAuthentication(token),

  parse(request: WebhookRequest, receivedAt: Date, context?: ParseContext): ImagePushed[] {
    return distributionPushes(request, DISTRIBUTION, receivedAt, context);
  },
};
