/**
 * Harbor project webhooks, kind `harbor`, in either of Harbor's payload formats.
 *
 * Default: `{ type: "PUSH_ARTIFACT", occur_at: <epoch seconds>, operator, event_data: {
 * resources: [{ digest, tag, resource_url }], repository: { name, namespace, repo_full_name,
 * repo_type } } }`. It carries no id, so a push is identified by repository, tag, digest and time.
 *
 * CloudEvents (`Content-Type: application/cloudevents+json`): `{ specversion: "1.0", id, source,
 * type: "harbor.artifact.pushed", time, datacontenttype, operator, data: <event_data as above> }`.
 * The CloudEvents `id` is the delivery id.
 *
 * Only an artifact push is a push to roll out; PULL_ARTIFACT, DELETE_ARTIFACT, the SCANNING_*
 * events, quotas, replication and ChartMuseum's UPLOAD_CHART are acknowledged with no pushes. A
 * resource pushed by digest only has an empty tag, or its digest in `tag`, and is ignored too.
 * The repository is `resource_url`'s host (Harbor's external URL, what devices pull from)
 * followed by `repo_full_name`.
 *
 * Harbor sends the webhook's "Auth Header" verbatim as the `Authorization` header, so whatever
 * the admin typed there arrives. Both forms an admin would type are accepted: the bare secret,
 * and `Bearer <secret>`.
 */
import { z } from 'zod';
import { Invalid } from '../errors';
import { bearerTokenOf } from '../secrets';
import { validate } from '../validation';
import { isDigest, REGISTRY_HOST } from './image-reference';
import {
  blankAsMissing,
  canonicalJson,
  checkReference,
  digestField,
  epochSecondsField,
  parseJsonObject,
  pushDeliveryId,
  repositoryPathField,
  requireContentType,
  stableId,
  tagField,
  timeField,
} from './payload';
import { header, sharedTokenAuthentication } from './sender-auth';
import type { ImagePushed, ParseContext, RegistryWebhook, SharedToken, WebhookRequest } from './types';

export const HARBOR = 'harbor';
const DEFAULT_PUSH = 'PUSH_ARTIFACT';
const CLOUDEVENTS_PUSH = 'harbor.artifact.pushed';

const eventDataSchema = z.object({
  resources: z.array(z.record(z.string(), z.unknown())),
  repository: z.object({ repo_full_name: repositoryPathField }),
});
const defaultEventSchema = z.object({ occur_at: epochSecondsField.optional(), event_data: eventDataSchema });
const cloudEventSchema = z.object({ id: z.string().min(1), time: timeField.optional(), data: eventDataSchema });
const resourceSchema = z.object({
  tag: tagField,
  digest: z.preprocess(blankAsMissing, digestField.optional()),
  resource_url: z.preprocess(blankAsMissing, z.string().optional()),
});

/** A resource pushed by digest only: Harbor leaves its tag empty or puts the digest there. */
function isUntagged(tag: unknown): boolean {
  return tag === undefined || tag === null || tag === '' || (typeof tag === 'string' && isDigest(tag));
}

/** The host of `harbor.example.com/library/app:v1` (a scheme, should one come, is dropped). */
function hostOf(resourceUrl: string | undefined, where: string, context: ParseContext | undefined): string {
  if (resourceUrl === undefined) {
    if (context?.host !== undefined) return context.host.toLowerCase();
    throw new Invalid(`${where}.resource_url is required: Harbor names the host devices pull from there (or configure the registry's host)`);
  }
  const withoutScheme = resourceUrl.trim().replace(/^[a-z][a-z0-9+.-]*:\/\//i, '');
  const slash = withoutScheme.indexOf('/');
  const host = slash === -1 ? '' : withoutScheme.slice(0, slash).toLowerCase();
  if (!REGISTRY_HOST.test(host)) {
    throw new Invalid(`${where}.resource_url must start with the registry's host, as in harbor.example.com/library/app:v1`);
  }
  return host;
}

interface Delivery {
  /** `event_data` or `data`: where the resources are, for messages. */
  field: 'event_data' | 'data';
  data: z.output<typeof eventDataSchema>;
  pushedAt: Date | undefined;
  /** The delivery id of the push of `tag` (one of `count`). */
  deliveryId(repository: string, tag: string, digest: string | undefined, count: number): string;
}

function cloudEvent(body: Record<string, unknown>): Delivery {
  const event = validate(cloudEventSchema, body);
  return {
    field: 'data',
    data: event.data,
    pushedAt: event.time === undefined ? undefined : new Date(event.time),
    deliveryId: (_repository, tag, _digest, count) => pushDeliveryId(event.id, tag, count),
  };
}

function defaultEvent(body: Record<string, unknown>): Delivery {
  const event = validate(defaultEventSchema, body);
  // Without occur_at only an exact repost (in any key order) is the same delivery.
  const when = event.occur_at === undefined ? canonicalJson(body) : String(event.occur_at);
  return {
    field: 'event_data',
    data: event.event_data,
    pushedAt: event.occur_at === undefined ? undefined : new Date(event.occur_at * 1000),
    deliveryId: (repository, tag, digest) => stableId(HARBOR, repository, tag, digest ?? '', when),
  };
}

/** Harbor sends its Auth Header verbatim as `Authorization`: the secret, or `Bearer <secret>`. */
const token: SharedToken = {
  read: (request) => {
    const value = header(request, 'authorization');
    return value === undefined ? undefined : (bearerTokenOf(value) ?? value.trim());
  },
  howToSend: 'set the webhook\'s Auth Header in Harbor to the secret (Harbor sends it as "Authorization: <secret>"), or to "Bearer <secret>"',
};

export const harbor: RegistryWebhook = {
  sharedToken: token,
  authenticate: sharedTokenAuthentication(token),

  parse(request: WebhookRequest, receivedAt: Date, context?: ParseContext): ImagePushed[] {
    requireContentType(request, ['application/json', 'application/cloudevents+json']);
    const body = parseJsonObject(request.body);
    const isCloudEvent = Object.hasOwn(body, 'specversion');
    const { type } = validate(z.object({ type: z.string() }), body);
    if (type !== (isCloudEvent ? CLOUDEVENTS_PUSH : DEFAULT_PUSH)) return [];

    const delivery = isCloudEvent ? cloudEvent(body) : defaultEvent(body);
    const { field, data } = delivery;
    const tagged = data.resources.flatMap((raw, index) => {
      if (isUntagged(raw.tag)) return [];
      const where = `${field}.resources[${index}]`;
      return [{ where, resource: validate(resourceSchema, raw, { prefix: where }) }];
    });
    const pushes = new Map<string, ImagePushed>();
    for (const { where, resource } of tagged) {
      const repository = `${hostOf(resource.resource_url, where, context)}/${data.repository.repo_full_name}`;
      checkReference(repository, resource.tag, `${field}.repository.repo_full_name`);
      const deliveryId = delivery.deliveryId(repository, resource.tag, resource.digest, tagged.length);
      pushes.set(deliveryId, {
        registry: HARBOR,
        repository,
        tag: resource.tag,
        ...(resource.digest !== undefined ? { digest: resource.digest } : {}),
        pushed_at: (delivery.pushedAt ?? receivedAt).toISOString(),
        delivery_id: deliveryId,
      });
    }
    return [...pushes.values()];
  },
};
