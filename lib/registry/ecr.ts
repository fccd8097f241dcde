/**
 * Amazon ECR, kind `ecr`. ECR has no webhooks: it emits an EventBridge event for each image
 * action, which an EventBridge rule delivers to a Lambda target, authenticated by IAM. So
 * `parseEcrEvent` takes the event as EventBridge hands it over, and the HTTP side of the kind is
 * closed: a webhook route for `ecr` refuses every request.
 *
 * Event: `{ version, id, "detail-type": "ECR Image Action", source: "aws.ecr", account, time,
 * region, resources, detail: { "action-type": "PUSH" | "DELETE", result: "SUCCESS" | "FAILURE",
 * "repository-name", "image-digest", "image-tag", "manifest-media-type"?, "artifact-media-type"? } }`.
 * Only a successful PUSH under a tag of a container image is a push to roll out: deletes,
 * failures, untagged pushes, other ECR events (scans, replication, pull-through cache) and
 * artifacts that are not images (a Helm chart's `artifact-media-type` is its chart config) give
 * none. The repository is `<account>.dkr.ecr.<region>.amazonaws.com/<repository-name>`
 * (`.amazonaws.com.cn` in the China regions), the event `id` the delivery id (EventBridge keeps
 * it when it retries), `time` the push time. A registry of kind `ecr` has no webhook URL and no
 * secret; the stack's rule (infra/manifest.ts, function `ecrEvents`) matches successful pushes,
 * and AWS alone can put `aws.ecr` events on a bus.
 */
import { z } from 'zod';
import { Unauthorized } from '../errors';
import { validate } from '../validation';
import { blankAsMissing, checkReference, digestField, parseJsonObject, repositoryPathField, tagField, timeField } from './payload';
import type { ImagePushed, RegistryWebhook, WebhookRequest } from './types';

export const ECR = 'ecr';
const IMAGE_ACTION = 'ECR Image Action';

/** The registry host of an account's ECR in a region (`.amazonaws.com.cn` in the China regions). */
export function ecrHost(account: string, region: string): string {
  return `${account}.dkr.ecr.${region}.${region.startsWith('cn-') ? 'amazonaws.com.cn' : 'amazonaws.com'}`;
}

/** Config media types of container images; any other names a non-image artifact. */
const IMAGE_CONFIG_MEDIA_TYPES = new Set(['application/vnd.docker.container.image.v1+json', 'application/vnd.oci.image.config.v1+json']);

const eventSchema = z.object({
  id: z.string().min(1),
  source: z.literal('aws.ecr'),
  'detail-type': z.string(),
  account: z.string().regex(/^\d{12}$/, 'must be a 12-digit AWS account id'),
  region: z.string().regex(/^[a-z]{2}(?:-[a-z]+)+-\d+$/, 'must be an AWS region such as eu-west-1'),
  time: timeField,
  detail: z.record(z.string(), z.unknown()),
});

const pushDetailSchema = z.object({
  'repository-name': repositoryPathField,
  'image-tag': tagField,
  'image-digest': z.preprocess(blankAsMissing, digestField.optional()),
});

function isImagePush(detail: Record<string, unknown>): boolean {
  if (detail['action-type'] !== 'PUSH' || detail.result !== 'SUCCESS') return false;
  const tag = detail['image-tag'];
  if (tag === undefined || tag === null || tag === '') return false;
  const artifact = detail['artifact-media-type'];
  return typeof artifact !== 'string' || artifact === '' || IMAGE_CONFIG_MEDIA_TYPES.has(artifact.toLowerCase());
}

/**
 * The push an ECR EventBridge event reports: one, or none when it reports nothing to roll out.
 * @throws Invalid naming the field, when the event is not an ECR event or lacks a field
 */
export function parseEcrEvent(event: unknown): ImagePushed[] {
  const envelope = validate(eventSchema, event, { what: 'event' });
  if (envelope['detail-type'] !== IMAGE_ACTION || !isImagePush(envelope.detail)) return [];
  const detail = validate(pushDetailSchema, envelope.detail, { prefix: 'detail' });
  const repository = `${ecrHost(envelope.account, envelope.region)}/${detail['repository-name']}`;
  checkReference(repository, detail['image-tag'], 'detail.repository-name');
  return [
    {
      registry: ECR,
      repository,
      tag: detail['image-tag'],
      ...(detail['image-digest'] !== undefined ? { digest: detail['image-digest'] } : {}),
      pushed_at: new Date(envelope.time).toISOString(),
      delivery_id: envelope.id,
    },
  ];
}

export const ecr: RegistryWebhook = {
  authenticate(): void {
    throw new Unauthorized(
      'ECR pushes arrive through EventBridge (a rule on source aws.ecr, detail-type "ECR Image Action"), not a webhook, so the HTTP route of an ecr registry is closed',
    );
  },

  /** Reached only by a caller that skips `authenticate`: reads the body as an EventBridge event. */
  parse(request: WebhookRequest): ImagePushed[] {
    return parseEcrEvent(parseJsonObject(request.body));
  },
};
