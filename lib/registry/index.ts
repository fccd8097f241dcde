/**
 * Registry webhooks: from a request on `POST /api/v1/webhooks/{registry}` to normalised pushes.
 * Pure: no AWS, no network, no environment; the caller passes the secret and the clock. The one
 * part that reaches out, looking up a digest the webhook did not name, is ./push-digests.ts (over
 * ./manifest-digest.ts), which the webhook function calls after this.
 *
 * Adding a registry: write a `RegistryWebhook` in its own file and add it to `registries`.
 */
import { NotFound } from '../errors';
import { distribution, DISTRIBUTION } from './distribution';
import { DOCKER_HUB, dockerHub } from './docker-hub';
import type { ImagePushed, RegistryWebhook, WebhookRequest } from './types';

export type { ImagePushed, RegistryWebhook, WebhookRequest } from './types';
export { isDigest, normaliseRepository, parseImageReference, type ImageReference } from './image-reference';

/** Route name (the `{registry}` path parameter) → its parser. */
export const registries = {
  [DOCKER_HUB]: dockerHub,
  [DISTRIBUTION]: distribution,
} as const satisfies Record<string, RegistryWebhook>;

export type RegistryName = keyof typeof registries;

export function isRegistryName(name: string): name is RegistryName {
  return Object.hasOwn(registries, name);
}

/**
 * Authenticates the sender, then parses its payload. Nothing of the body is read before the
 * credential matches. An empty `secret` rejects every request.
 *
 * @param registry the route's `{registry}` path parameter
 * @param secret the shared secret configured for webhooks
 * @param receivedAt when the request arrived; stands in for a push time the registry did not send
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
): ImagePushed[] {
  if (!isRegistryName(registry)) {
    throw new NotFound(`unknown registry "${registry}"; known: ${Object.keys(registries).join(', ')}`);
  }
  const webhook: RegistryWebhook = registries[registry];
  webhook.authenticate(request, secret);
  return webhook.parse(request, receivedAt);
}
