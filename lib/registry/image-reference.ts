/**
 * Image references as Docker and OCI write them: `[host[:port]/]path[:tag][@digest]`.
 *
 * The grammar follows distribution/reference. The one trap is the colon: in the first path
 * component it separates a host from its port (`registry.example.com:5000/team/app`), after the
 * last `/` it starts a tag (`team/app:v2`).
 */
import { Invalid } from '../errors';

const pathComponent = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
const domainComponent = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const host = `(?:${domainComponent}(?:\\.${domainComponent})*|\\[[a-fA-F0-9:]+\\])`;

/** One component of a repository path: `team`, `sensor-agent`. */
export const PATH_COMPONENT = new RegExp(`^${pathComponent}$`);
/** A repository path without a host: `team/app`, `library/nginx`. */
export const REPOSITORY_PATH = new RegExp(`^${pathComponent}(?:/${pathComponent})*$`);
/** A registry host with an optional port: `registry.example.com:5000`, `[::1]:5000`. */
export const REGISTRY_HOST = new RegExp(`^${host}(?::[0-9]+)?$`);
/** A tag: word characters, dots and dashes, at most 128, not starting with a dot or dash. */
export const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;
const NAME_MAX_LENGTH = 255;

const DOCKER_HUB_HOSTS = new Set(['docker.io', 'index.docker.io']);

export interface ImageReference {
  /** As written, host included when there is one: `registry.example.com:5000/team/app`, `nginx`. */
  repository: string;
  tag?: string;
  digest?: string;
}

/** True for `sha256:<64 hex>`, `sha512:<128 hex>` and other algorithms of the OCI digest grammar. */
export function isDigest(value: string): boolean {
  if (!DIGEST.test(value)) return false;
  const [algorithm, encoded = ''] = value.split(':', 2);
  if (algorithm === 'sha256') return /^[a-f0-9]{64}$/.test(encoded);
  if (algorithm === 'sha512') return /^[a-f0-9]{128}$/.test(encoded);
  return true;
}

/**
 * Where the host ends: Docker reads the first path component as a host only when it contains a
 * `.` or `:`, is `localhost`, or has upper-case letters (which no repository path may have).
 */
function splitHost(name: string): { host?: string; path: string } {
  const slash = name.indexOf('/');
  if (slash === -1) return { path: name };
  const first = name.slice(0, slash);
  const isHost =
    first.includes('.') || first.includes(':') || first === 'localhost' || first !== first.toLowerCase();
  return isHost ? { host: first, path: name.slice(slash + 1) } : { path: name };
}

/** The registry host a repository names (`registry.example.com:5000`), or undefined for Docker Hub's short form. */
export function hostOf(repository: string): string | undefined {
  return splitHost(repository).host;
}

/** A repository's host (as written) and path: `localhost:5000/team/app` → `localhost:5000`, `team/app`. */
export function splitRepositoryHost(repository: string): { host?: string; path: string } {
  return splitHost(repository);
}

/** Splits off `@digest`, then a `:tag` only when the colon comes after the last `/`. */
function splitReference(image: string): ImageReference {
  const at = image.indexOf('@');
  const named = at === -1 ? image : image.slice(0, at);
  const digest = at === -1 ? undefined : image.slice(at + 1);
  const colon = named.lastIndexOf(':');
  const hasTag = colon > named.lastIndexOf('/');
  return {
    repository: hasTag ? named.slice(0, colon) : named,
    ...(hasTag ? { tag: named.slice(colon + 1) } : {}),
    ...(digest !== undefined ? { digest } : {}),
  };
}

/**
 * Parses `host:port/path/name:tag@sha256:…` and its shorter forms. The repository comes back as
 * written; compare repositories with `normaliseRepository`.
 *
 * @throws Invalid naming what is wrong, when the reference does not follow the grammar.
 */
export function parseImageReference(image: string): ImageReference {
  const invalid = (why: string) => new Invalid(`image reference "${image}" is not valid: ${why}`);
  const ref = splitReference(image.trim());
  if (ref.repository === '') throw invalid('the repository is empty');
  const { host: domain, path } = splitHost(ref.repository);
  if (domain !== undefined && !REGISTRY_HOST.test(domain)) {
    throw invalid(`"${domain}" is not a registry host`);
  }
  if (!REPOSITORY_PATH.test(path)) {
    throw invalid(`"${path}" is not a repository path (lower-case letters, digits, separators . _ __ -)`);
  }
  if (ref.repository.length > NAME_MAX_LENGTH) {
    throw invalid(`the repository is longer than ${NAME_MAX_LENGTH} characters`);
  }
  if (ref.tag !== undefined && !TAG.test(ref.tag)) throw invalid(`"${ref.tag}" is not a tag`);
  if (ref.digest !== undefined && !isDigest(ref.digest)) throw invalid(`"${ref.digest}" is not a digest`);
  return ref;
}

/**
 * The form in which two repositories compare equal when a device would pull the same image:
 * `docker.io/library/nginx`, `index.docker.io/library/nginx`, `library/nginx` and `nginx` all
 * become `nginx`.
 *
 * Steps: drop any `@digest` and `:tag`; lower-case the host (host names are case-insensitive);
 * strip the Docker Hub hosts `docker.io` and `index.docker.io`; then, on Docker Hub only, strip a
 * leading `library/` (the namespace of official images). `library/` under any other registry is
 * an ordinary namespace and stays. Never throws: it is meant for comparing, not validating.
 */
export function normaliseRepository(ref: string): string {
  const { repository } = splitReference(ref.trim());
  const { host: domain, path } = splitHost(repository);
  const lowerHost = domain?.toLowerCase();
  if (lowerHost !== undefined && !DOCKER_HUB_HOSTS.has(lowerHost)) return `${lowerHost}/${path}`;
  return path.startsWith('library/') ? path.slice('library/'.length) : path;
}
