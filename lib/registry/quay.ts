/**
 * Quay (quay.io, Red Hat Quay) repository notifications for the "Push to Repository" event,
 * kind `quay`, sent by a notification of method "Webhook POST".
 *
 * Payload: `{ name, repository: "namespace/name", namespace, docker_url: "quay.io/namespace/name",
 * homepage, updated_tags: ["latest", "v2"] }`; older Quay sent `updated_tags` as an object of
 * tag → image id, which is read too. One push per updated tag, each to `docker_url` (the name
 * devices pull, host included, which for a self-hosted Quay is its own). An empty
 * `updated_tags` (a push by digest) has nothing to roll out.
 *
 * Quay sends no digest, no push time and no delivery id: the push is dated at receipt and
 * identified by the notification's content. So a repost is the same delivery, and so is a later
 * push of the same tags with nothing else in the payload changed: within the delivery retention
 * (7 days) such a re-push is taken as a copy. The digest looked up for a push (lib/registries/
 * push-digests.ts) pins its content but is not its identity, so it does not tell them apart.
 *
 * A Quay webhook notification is only a URL (no headers), so, as with Docker Hub, the secret
 * travels in it: `?token=<secret>`.
 */
import { z } from 'zod';
import { validate } from '../validation';
import { hostOf, parseImageReference } from './image-reference';
import { canonicalJson, checkReference, parseJsonObject, pushDeliveryId, requireContentType, stableId, tagField } from './payload';
import { sharedTokenAuthentication } from './sender-auth';
import type { ImagePushed, RegistryWebhook, SharedToken, WebhookRequest } from './types';

export const QUAY = 'quay';

/**
 * Fields of Quay's other notifications (build queued/started/completed/failed, vulnerability
 * found): a push payload has none of them. A completed build pushes its image, and that push
 * is notified on its own as a repository push.
 */
const NOT_PUSH_FIELDS = ['build_id', 'vulnerability', 'error_message'];

/** The tags of `updated_tags`: a list, or (older Quay) the keys of an object of tag → image id. */
function tagsOf(value: unknown): unknown {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? Object.keys(value) : value;
}

/** `quay.io/namespace/name` as a reference without tag or digest, host included. */
const dockerUrlField = z
  .string()
  .min(1, { abort: true })
  .refine((value) => {
    try {
      const ref = parseImageReference(value);
      return ref.tag === undefined && ref.digest === undefined && hostOf(ref.repository) !== undefined;
    } catch {
      return false;
    }
  }, 'must be the repository as devices pull it, host included, such as quay.io/namespace/name');

const quayPushSchema = z.object({
  docker_url: z.preprocess((value) => (typeof value === 'string' ? value.trim() : value), dockerUrlField),
  updated_tags: z.preprocess(tagsOf, z.array(tagField)),
});

/** The host lower-cased (host names are case-insensitive), the path as Quay wrote it. */
function pullName(dockerUrl: string): string {
  const slash = dockerUrl.indexOf('/');
  return `${dockerUrl.slice(0, slash).toLowerCase()}${dockerUrl.slice(slash)}`;
}

const token: SharedToken = { read: (request) => request.query.token, howToSend: "add ?token=<secret> to the notification's webhook URL" };

export const quay: RegistryWebhook = {
  sharedToken: token,
  authenticate: sharedTokenAuthentication(token),

  parse(request: WebhookRequest, receivedAt: Date): ImagePushed[] {
    requireContentType(request, ['application/json']);
    const body = parseJsonObject(request.body);
    // A build or vulnerability notification sent to the same URL: its image arrives as a push.
    if (!Object.hasOwn(body, 'updated_tags') && NOT_PUSH_FIELDS.some((field) => Object.hasOwn(body, field))) return [];
    const payload = validate(quayPushSchema, body);
    const repository = pullName(payload.docker_url);
    const tags = [...new Set(payload.updated_tags)];
    const delivery = stableId(QUAY, canonicalJson(body));
    return tags.map((tag) => {
      checkReference(repository, tag, 'docker_url');
      return {
        registry: QUAY,
        repository,
        tag,
        pushed_at: receivedAt.toISOString(),
        delivery_id: pushDeliveryId(delivery, tag, tags.length),
      };
    });
  },
};
