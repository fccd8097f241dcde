/**
 * Amazon ECR pushes, which arrive as EventBridge events on the account's default bus, not as
 * webhooks: `detail-type: "ECR Image Action"`, `source: "aws.ecr"`. A registry of kind `ecr`
 * has no webhook URL and no secret; the rule (infra/manifest.ts, function `ecrEvents`) matches
 * successful pushes only, and AWS alone can put `aws.ecr` events on a bus.
 *
 * Event (the fields read): `{ id, time, account, region, detail: { "action-type": "PUSH",
 * result: "SUCCESS", "repository-name", "image-digest", "image-tag"? } }`. The repository devices
 * pull is `<account>.dkr.ecr.<region>.amazonaws.com/<repository-name>`. A push without a tag (an
 * untagged manifest, such as one platform's image of a multi-arch push) is nothing to roll out.
 */
import { z } from 'zod';
import { Invalid } from '../errors';
import { validate } from '../validation';
import { parseImageReference } from './image-reference';
import { digestField, repositoryPathField, tagField } from './payload';
import type { ImagePushed } from './types';

export const ECR = 'ecr';

const blankAsMissing = (value: unknown) => (value === '' ? undefined : value);

export const ecrEventSchema = z.object({
  id: z.string().min(1),
  time: z.iso.datetime({ offset: true, error: 'must be an RFC 3339 time' }),
  account: z.string().regex(/^\d{12}$/, 'must be a 12-digit AWS account id'),
  region: z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d$/, 'must be an AWS region such as eu-west-1'),
  detail: z.object({
    'action-type': z.string(),
    result: z.string(),
    'repository-name': repositoryPathField,
    'image-digest': digestField,
    'image-tag': z.preprocess(blankAsMissing, tagField.optional()),
  }),
});
export type EcrEvent = z.infer<typeof ecrEventSchema>;

/** The registry host of an account's ECR in a region. */
export function ecrHost(account: string, region: string): string {
  return `${account}.dkr.ecr.${region}.amazonaws.com`;
}

/**
 * The push an ECR event reports; none for anything but a successful push of a tag.
 * @throws Invalid naming the field, for an event not shaped like ECR's
 */
export function parseEcrEvent(event: unknown): ImagePushed[] {
  const parsed = validate(ecrEventSchema, event, { what: 'event' });
  const { detail } = parsed;
  if (detail['action-type'] !== 'PUSH' || detail.result !== 'SUCCESS' || detail['image-tag'] === undefined) return [];
  const repository = `${ecrHost(parsed.account, parsed.region)}/${detail['repository-name']}`;
  try {
    parseImageReference(`${repository}:${detail['image-tag']}`);
  } catch (error) {
    throw new Invalid(`detail: ${error instanceof Error ? error.message : String(error)}`);
  }
  return [
    {
      registry: ECR,
      repository,
      tag: detail['image-tag'],
      digest: detail['image-digest'],
      pushed_at: new Date(parsed.time).toISOString(),
      delivery_id: parsed.id,
    },
  ];
}
