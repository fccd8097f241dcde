/**
 * Docker Hub repository webhooks: kind `docker-hub` (the default route `docker-registry`).
 *
 * Docker Hub fires one POST per pushed tag and can send neither headers nor a signature, so the
 * secret travels in the webhook URL as `?token=<secret>`. The payload has no digest and no
 * delivery id, so the id is derived from what identifies the push (see `deliveryId`).
 *
 * Payload (the fields read): `{ push_data: { tag, pushed_at?: epoch seconds, pusher? },
 * repository: { repo_name: "namespace/name", … }, callback_url? }`. The seed's minimal form
 * `{ repository: { repo_name }, push_data: { tag } }` is accepted too.
 */
import { z } from 'zod';
import { validate } from '../validation';
import { checkReference, epochSecondsField, parseJsonObject, repositoryPathField, requireContentType, stableId, tagField } from './payload';
import { sharedTokenAuthentication } from './sender-auth';
import type { ImagePushed, RegistryWebhook, SharedToken, WebhookRequest } from './types';

/** The default route's name, which a push keeps unless it came to a configured registry. */
export const DOCKER_HUB = 'docker-registry';

/**
 * Docker Hub names its repositories without a host; should one ever arrive with `docker.io/`,
 * it is dropped so the name matches what devices pull. `library/` stays as Docker Hub wrote it.
 */
function withoutDockerHubHost(name: unknown): unknown {
  if (typeof name !== 'string') return name;
  return name.trim().replace(/^(?:index\.)?docker\.io\//i, '');
}

/** The push notification Docker Hub posts (the fields read; the rest is ignored). */
export const dockerHubPayloadSchema = z.object({
  push_data: z.object({
    tag: tagField,
    pushed_at: epochSecondsField.nullish(),
  }),
  repository: z.object({
    repo_name: z.preprocess(withoutDockerHubHost, repositoryPathField),
  }),
});

/**
 * Without an id from Docker Hub, a push is identified by repository, tag and push time; a repost
 * of the same notification yields the same id. When `pushed_at` is missing (the seed's minimal
 * form) the raw body stands in for the time, so only an exact repost counts as the same delivery.
 */
function deliveryId(repository: string, tag: string, pushedAt: number | null | undefined, body: string): string {
  return pushedAt == null ? stableId(repository, tag, body) : stableId(repository, tag, String(pushedAt));
}

const token: SharedToken = { read: (request) => request.query.token, howToSend: 'add ?token=<secret> to the webhook URL' };

export const dockerHub: RegistryWebhook = {
  sharedToken: token,
  authenticate: sharedTokenAuthentication(token),

  parse(request: WebhookRequest, receivedAt: Date): ImagePushed[] {
    requireContentType(request, ['application/json']);
    const payload = validate(dockerHubPayloadSchema, parseJsonObject(request.body));
    const repository = payload.repository.repo_name;
    const { tag, pushed_at: pushedAt } = payload.push_data;
    checkReference(repository, tag, 'repository.repo_name');
    const pushedAtIso = pushedAt == null ? receivedAt.toISOString() : new Date(pushedAt * 1000).toISOString();
    return [
      {
        registry: DOCKER_HUB,
        repository,
        tag,
        pushed_at: pushedAtIso,
        delivery_id: deliveryId(repository, tag, pushedAt, request.body),
      },
    ];
  },
};

