/**
 * Registry webhooks: from a request on `POST /api/v1/webhooks/{registry}` to normalised pushes.
 * Pure: no AWS, no network, no environment; the caller passes the secret and the clock. The one
 * part that reaches out, looking up a digest the webhook did not name, is ./push-digests.ts (over
 * ./manifest-digest.ts), which the intake (lib/registries/intake.ts) calls after this.
 *
 * A registry's *kind* says which payload it sends and how it authenticates; a configured registry
 * (lib/registries) has a name, a kind and a secret of its own. Adding a kind: write a
 * `RegistryWebhook` in its own file and add it to `registries` (one line).
 */
import { NotFound } from '../errors';
import { acr } from './acr';
import { distribution } from './distribution';
import { dockerHub } from './docker-hub';
import { ghcr } from './ghcr';
import { gitlab } from './gitlab';
import { harbor } from './harbor';
import { jfrog } from './jfrog';
import { quay } from './quay';
import type { ImagePushed, ParseContext, RegistryWebhook, WebhookRequest } from './types';

export type { ImagePushed, ParseContext, RegistryWebhook, SharedToken, WebhookRequest } from './types';
export { isDigest, normaliseRepository, parseImageReference, type ImageReference } from './image-reference';
export { parseEcrEvent } from './ecr';

/** Kind → its parser: the kinds that send webhooks (ECR's pushes come as AWS events: `eventKinds`). */
export const registries = {
  'docker-hub': dockerHub,
  distribution,
  ghcr,
  harbor,
  quay,
  gitlab,
  acr,
  jfrog,
} as const satisfies Record<string, RegistryWebhook>;

export type WebhookKind = keyof typeof registries;

/** Kinds whose pushes arrive as AWS events rather than webhooks: a registry of one has no webhook URL and no secret. */
export const eventKinds = ['ecr'] as const;
export type EventKind = (typeof eventKinds)[number];

export type RegistryKind = WebhookKind | EventKind;

/** Every kind a configured registry may be, webhook kinds first. */
export const registryKinds: readonly RegistryKind[] = [...new Set<RegistryKind>([...(Object.keys(registries) as WebhookKind[]), ...eventKinds])];

export function isWebhookKind(kind: string): kind is WebhookKind {
  return Object.hasOwn(registries, kind) && !(eventKinds as readonly string[]).includes(kind);
}

export function webhookOf(kind: WebhookKind): RegistryWebhook {
  return registries[kind];
}

/**
 * Authenticates the sender against the secret itself, then parses its payload. Nothing of the
 * body is read before the credential matches. An empty `secret` rejects every request.
 *
 * @param kind which kind of registry sends it (`docker-hub`, `distribution`, `ghcr`, …)
 * @param secret the registry's shared secret
 * @param receivedAt when the request arrived; stands in for a push time the registry did not send
 * @param context what the configured registry knows that the payload may not say (its host)
 * @returns the pushes to roll out; empty when the request carried none (e.g. only pulls)
 * @throws NotFound (404) for a kind that sends no webhooks, Unauthorized (401) for a missing or
 *   wrong credential, UnsupportedMediaType (415) for a foreign content type, Invalid (400) for a
 *   body that is not JSON or lacks a field, with a message naming it
 */
export function parseWebhook(
  kind: string,
  request: WebhookRequest,
  secret: string,
  receivedAt: Date = new Date(),
  context: ParseContext = {},
): ImagePushed[] {
  if (!isWebhookKind(kind)) {
    throw new NotFound(`"${kind}" is not a kind of registry that sends webhooks; known: ${Object.keys(registries).join(', ')}`);
  }
  const webhook = webhookOf(kind);
  webhook.authenticate(request, secret);
  return webhook.parse(request, receivedAt, context);
}
