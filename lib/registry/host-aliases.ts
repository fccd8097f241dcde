/**
 * Host aliases: the name a registry knows itself by is not always the one devices pull from. A
 * registry on the build machine sees pushes to `localhost:5000/team/app`, while the devices pull
 * `registry.lan:5000/team/app`; an alias `{"localhost:5000": "registry.lan:5000"}` makes the
 * rollout's image the one devices can reach. Only the host part changes, matched whole and
 * without regard to case (host names are case-insensitive); the path, tag and digest stay.
 */
import { REGISTRY_HOST, splitRepositoryHost } from './image-reference';

/** From-host → to-host, keys lower-cased. */
export type HostAliases = Readonly<Record<string, string>>;

export const maxHostAliases = 20;

export function isRegistryHost(value: string): boolean {
  return REGISTRY_HOST.test(value) && value.length <= 255;
}

/** The aliases as stored: keys lower-cased, so that lookups need not care about case. */
export function normaliseHostAliases(aliases: Readonly<Record<string, string>>): Record<string, string> {
  return Object.fromEntries(Object.entries(aliases).map(([from, to]) => [from.toLowerCase(), to.toLowerCase()]));
}

/** The repository with its host replaced by its alias; unchanged when it has no host or the host has no alias. */
export function applyHostAlias(repository: string, aliases: HostAliases): string {
  const { host, path } = splitRepositoryHost(repository);
  if (host === undefined) return repository;
  const alias = Object.hasOwn(aliases, host.toLowerCase()) ? aliases[host.toLowerCase()] : undefined;
  return alias === undefined ? repository : `${alias}/${path}`;
}
