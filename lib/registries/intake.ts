/**
 * From a registry's notification to rollouts, whichever way it arrives: a webhook to
 * `POST /api/v1/webhooks/{registry}` or an ECR event from EventBridge. Both go through
 * `pushesTo` (each push gets its registry's name and host aliases) and end in `rolloutsFor`, the
 * one push pipeline, where `rolloutForPush` claims each delivery and creates (or finds) its rollout.
 *
 * A webhook is answered in this order, so that nothing is read or written for a caller that
 * proves nothing: the registry by name (cached, lib/registries/known.ts), its secret as its kind
 * sends it, the payload, then one token of the registry's rate bucket for a delivery that carries
 * pushes (lib/domain/rate-limit.ts), then the digests the payload did not name
 * (lib/registries/push-digests.ts). A refused token is a 429 with `Retry-After`, and nothing of
 * the delivery is written; an unauthenticated caller cannot spend a registry's tokens.
 */
import { Invalid, NotFound, TooManyRequests, Unauthorized } from '../errors';
import { logger } from '../logger';
import { applyHostAlias } from '../registry/host-aliases';
import { withDigests } from './push-digests';
import { parseEcrEvent, ecrHost, ECR } from '../registry/ecr';
import { isWebhookKind, parseImageReference, webhookOf, type ImagePushed, type WebhookRequest } from '../registry';
import { rolloutForPush, type PushOutcome, type RolloutSummary } from '../rollouts/create-rollouts';
import { webhookSecret } from '../secret-values';
import { takeToken } from '../store/rate-limits';
import { eventRegistryFor, registryNamed, type KnownRegistry } from './known';
import { keepingOf } from './secrets';

export interface PushesHandled {
  rollouts: RolloutSummary[];
  pushes: PushOutcome[];
}

/** The same answer for a name nobody configured and for a registry that takes no webhooks: it tells a stranger nothing. */
const noSuchWebhook = (name: string) =>
  new NotFound(`no registry named "${name}" takes webhooks here (create one with POST /api/v1/registries; ECR registries take none: their pushes arrive through EventBridge)`);

async function authenticate(registry: KnownRegistry & { kind: Parameters<typeof webhookOf>[0] }, request: WebhookRequest): Promise<void> {
  const webhook = webhookOf(registry.kind);
  if (registry.secret === 'global') {
    webhook.authenticate(request, await webhookSecret());
    return;
  }
  if (!registry.secret) throw new Unauthorized(`registry ${registry.name} has no secret; rotate it to give it one`);
  await keepingOf(registry.secret).verify(webhook, registry.secret, request);
}

/**
 * A webhook delivery to the registry `name`.
 * @throws NotFound, Unauthorized, Invalid / UnsupportedMediaType (the payload), TooManyRequests
 */
export async function receiveWebhook(name: string, request: WebhookRequest, now: Date): Promise<PushesHandled> {
  const registry = await registryNamed(name);
  if (!registry || !isWebhookKind(registry.kind)) throw noSuchWebhook(name);
  const kind = registry.kind;
  await authenticate({ ...registry, kind }, request);
  const parsed = webhookOf(kind).parse(request, now, registry.host ? { host: registry.host } : {});
  if (parsed.length === 0) return { rollouts: [], pushes: [] };
  const token = await takeToken(registry.name, now.getTime(), { perMinute: registry.rate_limit_per_minute });
  if (!token.allowed) {
    logger.warn(`webhook refused: registry ${registry.name} is over its rate limit`, { registry: registry.name, limit_per_minute: registry.rate_limit_per_minute, retry_after_seconds: token.retryAfterSeconds });
    throw new TooManyRequests(
      `registry ${registry.name} is over its rate limit of ${registry.rate_limit_per_minute} deliveries a minute; retry in ${token.retryAfterSeconds} s`,
      token.retryAfterSeconds,
    );
  }
  // Only once the sender is authenticated and within its limit: a push without a digest gets the
  // one its tag names now, looked up before host aliases apply (the host the registry reported is
  // the one its API answers at).
  return rolloutsFor(pushesTo(registry, await withDigests(parsed, registry)), now);
}

/**
 * An ECR event from EventBridge. AWS alone puts `aws.ecr` events on a bus, so there is no secret
 * to check and no stranger to limit (a throttled event would be retried twice, then lost).
 * @returns undefined when the event is not a push of a tag, or no ECR registry is configured for it
 * @throws Invalid for an event not shaped like ECR's
 */
export async function receiveEcrEvent(event: unknown, now: Date): Promise<PushesHandled | undefined> {
  const pushes = parseEcrEvent(event);
  const [first] = pushes;
  if (!first) return undefined;
  const host = first.repository.slice(0, first.repository.indexOf('/'));
  const registry = await eventRegistryFor(ECR, host);
  if (!registry) {
    const { account, region } = event as { account: string; region: string };
    logger.warn(`ECR push ignored: no registry of kind ecr is configured for ${ecrHost(account, region)}`, { repository: first.repository, tag: first.tag });
    return undefined;
  }
  return rolloutsFor(pushesTo(registry, pushes), now);
}

/**
 * The push pipeline, for pushes as `pushesTo` made them: each push's rollout
 * (lib/rollouts/create-rollouts.ts: claimed once per delivery, so a repeated delivery finds what
 * the first made, and answers the same).
 */
export async function rolloutsFor(pushes: ImagePushed[], now: Date): Promise<PushesHandled> {
  const rollouts: RolloutSummary[] = [];
  const outcomes: PushOutcome[] = [];
  for (const push of pushes) {
    const { outcome, rollout } = await rolloutForPush(push, now);
    outcomes.push(outcome);
    if (rollout) rollouts.push(rollout);
  }
  return { rollouts, pushes: outcomes };
}

/** The pushes as the registry's: under its name, each repository's host aliased. */
export function pushesTo(registry: KnownRegistry, pushes: ImagePushed[]): ImagePushed[] {
  return pushes.map((push) => asPushTo(registry, push));
}

function asPushTo(registry: KnownRegistry, push: ImagePushed): ImagePushed {
  const repository = applyHostAlias(push.repository, registry.host_aliases);
  if (repository !== push.repository) {
    // An alias can make a valid name too long.
    try {
      parseImageReference(`${repository}:${push.tag}`);
    } catch (error) {
      throw new Invalid(`the host alias of registry ${registry.name} makes ${push.repository} invalid: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  return { ...push, registry: registry.name, repository };
}
