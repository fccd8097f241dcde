/**
 * Pinning a push to the content its tag names when it arrived. A webhook without a digest
 * (Docker Hub's, Quay's) would give a rollout of `repository:tag`, and a tag moved later would
 * change what the devices it has not reached yet pull. So before its rollout is created, such a
 * push asks its registry's manifest API which digest the tag names (lib/registry/
 * manifest-digest.ts), signing in with the registry's pull credentials when it has them (a
 * private repository: lib/registries/pull-credentials.ts), and the rollout targets
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
import type { ImagePushed, RegistryKind } from '../registry';
import { hostOf } from '../registry/image-reference';
import { resolveManifestDigest, type RegistryCredentials } from '../registry/manifest-digest';
import type { KnownRegistry } from './known';
import { pullCredentialsOf } from './pull-credentials';

const QUAY_IO = 'quay.io';

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

export type ManifestApi = { apiUrl: string; name: string } | { unavailable: string };

/** Kinds whose webhooks name no digest, so it is looked up; the only ones `api_url` and `pull_credentials` are for. */
export const digestLookupKinds = ['docker-hub', 'quay'] as const satisfies readonly RegistryKind[];

export function looksUpDigests(kind: string): boolean {
  return (digestLookupKinds as readonly string[]).includes(kind);
}

/** What of a registry's configuration decides where its look-ups go and as whom. */
export type LookupRegistry = Pick<KnownRegistry, 'name' | 'kind' | 'host' | 'api_url' | 'pull_credentials'>;

type Settings = Pick<Config, 'dockerHubManifestApiUrl' | 'quayManifestApiUrl'>;

/**
 * Where a push's digest is looked up, as which repository; or why it is not. The one place that
 * decides it, by the kind of registry the push came to:
 *
 * - `docker-hub`: the registry's `api_url`, else Docker Hub's API (DOCKER_HUB_MANIFEST_API_URL),
 *   with official images under `library/`.
 * - `quay`: the push names its host (`docker_url`). Only a push to the registry's own host is
 *   looked up (its `host`, or quay.io when it names none), so its credentials never go to a host
 *   a payload made up: at the registry's `api_url`, else quay.io's API (QUAY_MANIFEST_API_URL)
 *   or `https://<host>` for a self-hosted Quay.
 */
export function manifestApiFor(push: Pick<ImagePushed, 'repository'>, registry: LookupRegistry, settings: Settings = config()): ManifestApi {
  if (registry.kind === 'docker-hub') {
    const apiUrl = registry.api_url ?? settings.dockerHubManifestApiUrl;
    if (apiUrl === null) return { unavailable: `digest look-up is off (${env.dockerHubManifestApiUrl}=off)` };
    return { apiUrl, name: push.repository.includes('/') ? push.repository : `library/${push.repository}` };
  }
  if (registry.kind === 'quay') {
    const host = hostOf(push.repository)?.toLowerCase();
    const ownHost = registry.host ?? QUAY_IO;
    if (host === undefined || host !== ownHost) {
      return { unavailable: `the push names host ${host ?? '(none)'}, not ${ownHost}, the host of registry ${registry.name}, so nothing is looked up there (set the registry's host to look it up)` };
    }
    const apiUrl = registry.api_url ?? (host === QUAY_IO ? settings.quayManifestApiUrl : `https://${host}`);
    if (apiUrl === null) return { unavailable: `digest look-up is off (${env.quayManifestApiUrl}=off)` };
    return { apiUrl, name: push.repository.slice(push.repository.indexOf('/') + 1) };
  }
  return { unavailable: `the ${registry.kind} webhook named no digest, and digests are not looked up for ${registry.kind} registries` };
}

/**
 * The pushes to `registry`, each with its digest and where it came from, or with why it has
 * none. Never throws for a registry's failure: a push whose look-up fails is still rolled out, by tag.
 */
export async function withDigests(pushes: readonly ImagePushed[], registry: LookupRegistry): Promise<ImagePushed[]> {
  let credentials: Promise<RegistryCredentials | undefined> | undefined;
  const signIn = () => (credentials ??= registry.pull_credentials ? pullCredentialsOf(registry.pull_credentials) : Promise.resolve(undefined));
  return pMap(pushes, (push) => pinned(push, registry, signIn), { concurrency: LOOKUP_CONCURRENCY });
}

async function pinned(push: ImagePushed, registry: LookupRegistry, signIn: () => Promise<RegistryCredentials | undefined>): Promise<ImagePushed> {
  if (push.digest) return { ...push, digest_source: push.digest_source ?? 'registry' };
  const api = manifestApiFor(push, registry);
  if ('unavailable' in api) return { ...push, digest_unresolved: api.unavailable };
  let credentials: RegistryCredentials | undefined;
  try {
    credentials = await signIn();
  } catch (error) {
    logger.error(`the pull credentials of registry ${registry.name} could not be read; ${push.repository}:${push.tag} rolls out by tag`, { registry: registry.name, error });
    return { ...push, digest_unresolved: `the pull credentials of registry ${registry.name} could not be read: ${error instanceof Error ? error.message : String(error)}` };
  }
  const started = Date.now();
  const result = await resolveManifestDigest(
    { apiUrl: api.apiUrl, name: api.name, tag: push.tag },
    { timeoutMs: DIGEST_LOOKUP_TIMEOUT_MS, ...(credentials ? { credentials } : {}) },
  );
  const keys = { registry: registry.name, repository: push.repository, tag: push.tag, delivery_id: push.delivery_id, lookup_ms: Date.now() - started };
  if ('digest' in result) {
    logger.info(`digest resolved: ${push.repository}:${push.tag}@${result.digest}`, keys);
    return { ...push, digest: result.digest, digest_source: 'resolved' };
  }
  logger.warn(`digest of ${push.repository}:${push.tag} not resolved; its rollout targets the tag: ${result.error}`, keys);
  return { ...push, digest_unresolved: result.error };
}
