/**
 * JFrog Artifactory webhooks of the `docker` domain, kind `jfrog`.
 *
 * Payload (predefined webhook): `{ domain: "docker", event_type: "pushed" | "deleted" |
 * "promoted", data: { repo_key, path, name, sha256, size, image_name, tag, platforms? },
 * subscription_key, jpd_origin?, source }`. Only `pushed` under a tag is a push to roll out;
 * deletes, promotions (whose payload names the source repository, not where the tag now is) and
 * every other domain (artifact, build, …) are acknowledged with no pushes. `sha256` is that of
 * the pushed manifest (or manifest list) file, i.e. the image's digest.
 *
 * The payload names no pull host. The repository is `<host>/<repo_key>/<image_name>`, Docker's
 * "repository path" access method (JFrog Cloud's, and self-hosted's default), with `<host>` the
 * configured registry host when there is one, else the host of `jpd_origin` (the platform's
 * base URL, which newer Artifactory versions send). Devices that pull through another name (the
 * subdomain or port method, a proxy) need the host configured. With neither, the delivery is
 * refused naming the missing configuration.
 *
 * Artifactory sends no delivery id; a push is identified by subscription, repository, tag and
 * digest, and dated at receipt.
 *
 * The webhook's secret arrives in `X-JFrog-Event-Auth`: as the secret itself, or, with "use
 * secret for payload signing" on, as the hex HMAC-SHA256 of the body keyed with it. Both are
 * accepted.
 */
import { z } from 'zod';
import { Invalid } from '../errors';
import { constantTimeEqual } from '../secrets';
import { validate } from '../validation';
import { PATH_COMPONENT, REGISTRY_HOST } from './image-reference';
import { blankAsMissing, checkReference, parseJsonObject, repositoryPathField, requireContentType, stableId, tagField } from './payload';
import { header, hmacSha256Hex, verifyCredential } from './sender-auth';
import type { ImagePushed, ParseContext, RegistryWebhook, WebhookRequest } from './types';

export const JFROG = 'jfrog';

const envelopeSchema = z.object({
  domain: z.string(),
  event_type: z.string(),
  subscription_key: z.string().optional(),
  jpd_origin: z.preprocess(blankAsMissing, z.string().optional()),
});

const pushedSchema = z.object({
  data: z.object({
    repo_key: z.string().min(1, { abort: true }).regex(PATH_COMPONENT, 'must be a Docker repository key usable in an image name (lower-case letters, digits, . _ -)'),
    image_name: repositoryPathField,
    tag: tagField,
    sha256: z.preprocess(blankAsMissing, z.string().regex(/^[a-f0-9]{64}$/, 'must be 64 lower-case hex digits').optional()),
  }),
});

/**
 * A manifest pushed by digest only: no tag, or the `sha256__<hex>` folder Artifactory files such
 * a manifest under, which is not a tag anyone can pull.
 */
function isUntagged(tag: unknown): boolean {
  return tag === undefined || tag === null || tag === '' || (typeof tag === 'string' && /^sha256__[a-f0-9]{64}$/.test(tag));
}

/** Where devices pull from: the configured host, else jpd_origin's. */
function pullHost(jpdOrigin: string | undefined, context: ParseContext | undefined): string {
  if (context?.host !== undefined) {
    if (!REGISTRY_HOST.test(context.host)) throw new Invalid(`the configured registry host "${context.host}" is not a host name with an optional port`);
    return context.host.toLowerCase();
  }
  if (jpdOrigin === undefined) {
    throw new Invalid(
      'no registry host: JFrog names none in its payload, so configure the host devices pull from (e.g. mycompany.jfrog.io), or send jpd_origin',
    );
  }
  let host: string;
  try {
    host = new URL(jpdOrigin).host;
  } catch {
    throw new Invalid('jpd_origin must be a URL such as https://mycompany.jfrog.io');
  }
  if (!REGISTRY_HOST.test(host)) throw new Invalid('jpd_origin must be a URL such as https://mycompany.jfrog.io');
  return host.toLowerCase();
}

export const jfrog: RegistryWebhook = {
  authenticate(request: WebhookRequest, secret: string): void {
    verifyCredential(
      header(request, 'x-jfrog-event-auth'),
      secret,
      (presented) => {
        const value = presented.trim();
        // Both compared, whichever matches: the time taken does not tell which form was sent.
        const asSecret = constantTimeEqual(value, secret);
        const asSignature = constantTimeEqual(value.toLowerCase(), hmacSha256Hex(secret, request.body));
        return asSecret || asSignature;
      },
      'set the secret as the webhook\'s Secret token in JFrog, which sends it (or the body\'s HMAC-SHA256 signed with it) as "X-JFrog-Event-Auth"',
    );
  },

  parse(request: WebhookRequest, receivedAt: Date, context?: ParseContext): ImagePushed[] {
    requireContentType(request, ['application/json']);
    const body = parseJsonObject(request.body);
    const envelope = validate(envelopeSchema, body);
    if (envelope.domain !== 'docker' || envelope.event_type !== 'pushed') return [];
    const data = body.data;
    if (typeof data === 'object' && data !== null && !Array.isArray(data) && isUntagged((data as Record<string, unknown>).tag)) return [];
    const { data: pushed } = validate(pushedSchema, body);
    const repository = `${pullHost(envelope.jpd_origin, context)}/${pushed.repo_key}/${pushed.image_name}`;
    checkReference(repository, pushed.tag, 'data.image_name');
    const digest = pushed.sha256 === undefined ? undefined : `sha256:${pushed.sha256}`;
    return [
      {
        registry: JFROG,
        repository,
        tag: pushed.tag,
        ...(digest !== undefined ? { digest } : {}),
        pushed_at: receivedAt.toISOString(),
        delivery_id: stableId(JFROG, envelope.subscription_key ?? '', repository, pushed.tag, digest ?? ''),
      },
    ];
  },
};
