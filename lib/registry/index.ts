/**
 * Registry webhooks: from a request on `POST /api/v1/webhooks/{registry}` to normalised pushes.
 * Pure: no AWS, no network, no environment; the caller passes the secret and the clock. The one
 * part that reaches out, looking up a digest the webhook did not name, is ./push-digests.ts (over
 * ./manifest-digest.ts), which the webhook function calls after this.
 *
 * Adding a registry kind: write a `RegistryWebhook` in its own file and add it to `registries`.
 */
import { NotFound } from '../errors';
import { acr, ACR } from './acr';
import { distribution, DISTRIBUTION } from './distribution';
import { DOCKER_HUB, dockerHub } from './docker-hub';
import { ecr, ECR } from './ecr';
import { ghcr, GHCR } from './ghcr';
import { gitlab, GITLAB } from './gitlab';
import { harbor, HARBOR } from './harbor';
import { jfrog, JFROG } from './jfrog';
import { quay, QUAY } from './quay';
import type { ImagePushed, ParseContext, RegistryWebhook, WebhookRequest } from './types';

export type { ImagePushed, ParseContext, RegistryWebhook, WebhookRequest } from './types';
export { isDigest, normaliseRepository, parseImageReference, type ImageReference } from './image-reference';
export { parseEcrEvent } from './ecr';

/** Kind name (today also the route's `{registry}` path parameter) → its parser. */
export const registries = {
  [DOCKER_HUB]: dockerHub,
  [DISTRIBUTION]: distribution,
  [GHCR]: ghcr,
  [HARBOR]: harbor,
  [QUAY]: quay,
  [GITLAB]: gitlab,
  [ACR]: acr,
  [JFROG]: jfrog,
  [ECR]: ecr,
} as const satisfies Record<string, RegistryWebhook>;

export type RegistryName = keyof typeof registries;

export function isRegistryName(name: string): name is RegistryName {
  return Object.hasOwn(registries, name);
}

/**
 * Authenticates the sender, then parses its payload. Nothing of the body is read before the
 * credential matches. An empty `secret` rejects every request.
 *
 * @param registry the registry's kind (the route's `{registry}` path parameter)
 * @param secret the shared secret configured for webhooks
 * @param receivedAt when the request arrived; stands in for a push time the registry did not send
 * @param context what the registry's configuration adds, e.g. the host devices pull from
 * @returns the pushes to roll out; empty when the request carried none (e.g. only pulls)
 * @throws NotFound (404) for an unknown registry, Unauthorized (401) for a missing or wrong
 *   credential, UnsupportedMediaType (415) for a foreign content type, Invalid (400) for a body
 *   that is not JSON or lacks a field, with a message naming it
 */
export function parseWebhook(
  registry: string,
  request: WebhookRequest,
  secret: string,
  receivedAt: Date = new Date(),
  context?: ParseContext,
): ImagePushed[] {
  if (!isRegistryName(registry)) {
    throw new NotFound(`unknown registry "${registry}"; known: ${Object.keys(registries).join(', ')}`);
  }
  const webhook: RegistryWebhook = registries[registry];
  webhook.authenticate(request, secret);
  return webhook.parse(request, receivedAt, context);
}
