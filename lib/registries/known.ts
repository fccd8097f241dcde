/**
 * The registries pushes may come from: the configured ones (lib/store/registries.ts) and the two
 * defaults that predate them, `docker-registry` (kind docker-hub) and `distribution`, which take
 * the deployment's global webhook secret and are there without being created. A configured
 * registry of a default's name takes its place (its own secret, aliases and limit), so that an
 * existing webhook URL can be given all that without being changed in the registry.
 *
 * The intake reads the registries at most once every `registryCacheMs` per process: an unknown or
 * wrongly signed request then costs no read, and a change made through the admin API (a rotated
 * secret, a deleted registry) takes effect within that time on every Lambda instance. This
 * process forgets its copy at once when it changes a registry, so on the embedded host, where
 * every function shares it, a change takes effect at once.
 */
import { defaultRatePerMinute } from '../domain/rate-limit';
import type { EventKind, RegistryKind, WebhookKind } from '../registry';
import { DISTRIBUTION } from '../registry/distribution';
import { DOCKER_HUB } from '../registry/docker-hub';
import { allRegistries, type StoredPullCredentials, type StoredRegistry } from '../store/registries';

export const registryCacheMs = 15_000;

/** Default registry name → its kind. */
export const defaultRegistries: Readonly<Record<string, WebhookKind>> = {
  [DOCKER_HUB]: 'docker-hub',
  [DISTRIBUTION]: 'distribution',
};

export function isDefaultRegistry(name: string): boolean {
  return Object.hasOwn(defaultRegistries, name);
}

/** A registry as the intake uses it. */
export interface KnownRegistry {
  name: string;
  kind: RegistryKind;
  host?: string;
  host_aliases: Readonly<Record<string, string>>;
  rate_limit_per_minute: number;
  /** Its own, as stored; `global` for a default registry; none for kinds that take no webhooks. */
  secret: StoredRegistry['secret'] | 'global';
  /** Where digests are looked up, when not where the kind implies (lib/registries/push-digests.ts). */
  api_url?: string;
  /** Who the digest look-up signs in as, and where the password is. */
  pull_credentials?: StoredPullCredentials;
}

export function defaultRegistry(name: string): KnownRegistry | undefined {
  const kind = isDefaultRegistry(name) ? defaultRegistries[name] : undefined;
  return kind === undefined ? undefined : { name, kind, host_aliases: {}, rate_limit_per_minute: defaultRatePerMinute, secret: 'global' };
}

function known(stored: StoredRegistry): KnownRegistry {
  return {
    name: stored.name,
    kind: stored.kind as RegistryKind,
    ...(stored.host ? { host: stored.host } : {}),
    host_aliases: stored.host_aliases ?? {},
    rate_limit_per_minute: stored.rate_limit_per_minute,
    secret: stored.secret,
    ...(stored.api_url ? { api_url: stored.api_url } : {}),
    ...(stored.pull_credentials ? { pull_credentials: stored.pull_credentials } : {}),
  };
}

let cached: { at: number; registries: Promise<Map<string, KnownRegistry>> } | undefined;

function configured(nowMs = Date.now()): Promise<Map<string, KnownRegistry>> {
  if (!cached || nowMs - cached.at >= registryCacheMs) {
    const read = allRegistries().then((all) => new Map(all.map((stored) => [stored.name, known(stored)])));
    cached = { at: nowMs, registries: read };
    // A failed read is not kept: the next request tries again.
    read.catch(() => {
      if (cached?.registries === read) cached = undefined;
    });
  }
  return cached.registries;
}

/** Called by every change this process makes to a registry. */
export function forgetKnownRegistries(): void {
  cached = undefined;
}

/** The registry of this name: configured, else a default; undefined when there is none. */
export async function registryNamed(name: string): Promise<KnownRegistry | undefined> {
  return (await configured()).get(name) ?? defaultRegistry(name);
}

/**
 * The registry an AWS event from `host` belongs to: the event-kind registry (ECR) whose host is
 * that one, else one that names no host (the first by name); undefined when none is configured.
 */
export async function eventRegistryFor(kind: EventKind, host: string): Promise<KnownRegistry | undefined> {
  const candidates = [...(await configured()).values()].filter((registry) => registry.kind === kind).sort((a, b) => a.name.localeCompare(b.name));
  return candidates.find((registry) => registry.host?.toLowerCase() === host.toLowerCase()) ?? candidates.find((registry) => registry.host === undefined);
}
