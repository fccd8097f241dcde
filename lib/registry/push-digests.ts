/**
 * Pinning a push to the content its tag names when it arrived. A webhook without a digest
 * (Docker Hub's) would give a rollout of `repository:tag`, and a tag moved later would change
 * what the devices it has not reached yet pull. So before its rollout is created, such a push
 * asks its registry's manifest API which digest the tag names, and the rollout targets
 * `repository:tag@sha256:…`. When the look-up fails the push goes on as it came, saying why
 * (`digest_unresolved`), and its rollout targets the tag, as without a look-up.
 *
 * The digest only pins the content: it is not the push's identity (lib/rollouts/create-rollouts.ts
 * `rolloutIdFor`), so copies of one notification stay one rollout even when one copy's look-up
 * fails, and a tag moved back to content it named before is a new push that rolls out again.
 */
import pMap from 'p-map';
import { config, type Config } from '../config';
import { env } from '../environment';
import { logger } from '../logger';
import { DOCKER_HUB } from './docker-hub';
import { resolveManifestDigest, type RegistryCredentials } from './manifest-digest';
import type { ImagePushed } from './types';

/**
 * For one push's whole look-up, token request included. The registry is waiting for the
 * webhook's answer (Distribution's notification endpoints typically give 5 s, and Docker Hub does
 * not wait long either) and the webhook function has 15 s for everything. Docker Hub answers a
 * token and a HEAD in well under a second, so 3 s leaves room for a slow moment; a registry that
 * takes longer is having an outage, and the rollout goes by tag rather than keep the sender waiting.
 */
export const DIGEST_LOOKUP_TIMEOUT_MS = 3_000;

/** Look-ups one webhook runs at once (a Docker Hub webhook carries one push). */
const LOOKUP_CONCURRENCY = 4;

export type ManifestApi = { apiUrl: string; name: string; credentials?: RegistryCredentials } | { unavailable: string };

/**
 * Where a push's digest is looked up, as which repository, with which credentials; or why it is
 * not. The one place that decides it. Docker Hub: its API (or DOCKER_HUB_MANIFEST_API_URL), with
 * official images under `library/`, anonymously: a private repository answers 401 until
 * registries carry credentials of their own, and rolls out by tag.
 */
export function manifestApiFor(push: Pick<ImagePushed, 'registry' | 'repository'>, settings: Pick<Config, 'dockerHubManifestApiUrl'> = config()): ManifestApi {
  if (push.registry === DOCKER_HUB) {
    if (settings.dockerHubManifestApiUrl === null) return { unavailable: `digest look-up is off (${env.dockerHubManifestApiUrl}=off)` };
    const name = push.repository.includes('/') ? push.repository : `library/${push.repository}`;
    return { apiUrl: settings.dockerHubManifestApiUrl, name };
  }
  return { unavailable: `the ${push.registry} webhook named no digest, and digests are not looked up for ${push.registry}` };
}

/**
 * The pushes, each with its digest and where it came from, or with why it has none. Never
 * throws for a registry's failure: a push whose look-up fails is still rolled out, by tag.
 */
export async function withDigests(pushes: readonly ImagePushed[]): Promise<ImagePushed[]> {
  return pMap(pushes, pinned, { concurrency: LOOKUP_CONCURRENCY });
}

async function pinned(push: ImagePushed): Promise<ImagePushed> {
  if (push.digest) return { ...push, digest_source: push.digest_source ?? 'registry' };
  const api = manifestApiFor(push);
  if ('unavailable' in api) return { ...push, digest_unresolved: api.unavailable };
  const started = Date.now();
  const result = await resolveManifestDigest(
    { apiUrl: api.apiUrl, name: api.name, tag: push.tag },
    { timeoutMs: DIGEST_LOOKUP_TIMEOUT_MS, ...(api.credentials ? { credentials: api.credentials } : {}) },
  );
  const keys = { registry: push.registry, repository: push.repository, tag: push.tag, delivery_id: push.delivery_id, lookup_ms: Date.now() - started };
  if ('digest' in result) {
    logger.info(`digest resolved: ${push.repository}:${push.tag}@${result.digest}`, keys);
    return { ...push, digest: result.digest, digest_source: 'resolved' };
  }
  logger.warn(`digest of ${push.repository}:${push.tag} not resolved; its rollout targets the tag: ${result.error}`, keys);
  return { ...push, digest_unresolved: result.error };
}
