/**
 * The digest a tag names right now, read from the registry's manifest API (OCI distribution
 * spec): `HEAD /v2/<name>/manifests/<tag>` answers it in `Docker-Content-Digest`. For registries
 * whose webhooks carry no digest (Docker Hub), so that a rollout pins `repository:tag@sha256:…`
 * and a tag moved later does not change what devices pull.
 *
 * It runs while a registry waits for the webhook's answer, so everything is bounded: one deadline
 * covers the whole look-up, token request included; bodies are read up to a limit; at most
 * three redirects, and only on the same host (an `http` → `https` upgrade included), because
 * the requests may carry credentials and the registry's answers are not ours to trust with
 * them. A token realm must be `https`, or plain `http` only when the API itself is (a local
 * registry), so no credential crosses the network in the clear to a host the operator did not
 * name. Nothing here throws for network or HTTP problems: the answer says what happened.
 */
import { createHash } from 'node:crypto';
import { isDigest, REPOSITORY_PATH, TAG } from './image-reference';

export interface ManifestReference {
  /** The registry's API base, without `/v2`: `https://registry-1.docker.io`. */
  apiUrl: string;
  /** The repository as the API names it: `library/nginx`, `team/app`. */
  name: string;
  tag: string;
}

export interface RegistryCredentials {
  username: string;
  /** A password or an access token the registry takes in its place. */
  password: string;
}

export interface ResolveOptions {
  credentials?: RegistryCredentials;
  /** For the whole look-up: the manifest request, the token request, any retry and redirect. */
  timeoutMs: number;
  fetch?: typeof fetch;
}

export type DigestResolution = { digest: string } | { error: string };

/**
 * Every manifest type a pull accepts, lists first: for a multi-platform image the registry
 * answers the index's digest, the one `docker pull` prints, rather than one platform's.
 */
export const MANIFEST_ACCEPT = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
].join(', ');

const MAX_REDIRECTS = 3;
/** Docker Hub's tokens are a few KiB; anything near this is not a token answer. */
const TOKEN_BODY_LIMIT = 64 * 1024;
/** What Distribution itself accepts as a manifest. */
const MANIFEST_BODY_LIMIT = 4 * 1024 * 1024;
const CHALLENGE_LIMIT = 4096;

/** Why a step ended without an answer to go on with. */
class LookupFailed extends Error {}

type Authorization = { scheme: 'Bearer' | 'Basic'; value: string } | undefined;

interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

/**
 * `Bearer realm="…",service="…",scope="…"` as RFC 7235 writes it: a scheme, then `name=value`
 * pairs whose values are tokens or quoted strings. Only the first challenge is read.
 */
export function parseChallenge(header: string): Challenge | undefined {
  if (header.length > CHALLENGE_LIMIT) return undefined;
  const head = /^\s*([A-Za-z][\w.+-]*)(?:\s+|$)/.exec(header);
  if (!head) return undefined;
  const params: Record<string, string> = {};
  const param = /\s*,?\s*([A-Za-z][\w-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,"]+))\s*/y;
  const rest = header.slice(head[0].length);
  param.lastIndex = 0;
  while (param.lastIndex < rest.length) {
    const match = param.exec(rest);
    if (!match) break;
    const value = match[2] !== undefined ? match[2].replace(/\\(.)/g, '$1') : match[3]!;
    params[match[1]!.toLowerCase()] = value;
  }
  return { scheme: head[1]!.toLowerCase(), params };
}

const basic = (credentials: RegistryCredentials) =>
  `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`, 'utf8').toString('base64')}`;

/** The body, or an error when it is larger than `limit` bytes (read no further than that). */
async function readLimited(response: Response, limit: number, what: string): Promise<Buffer> {
  const declared = Number(response.headers.get('content-length'));
  if (Number.isFinite(declared) && declared > limit) {
    await response.body?.cancel().catch(() => undefined);
    throw new LookupFailed(`${what} is larger than ${limit} bytes (${declared})`);
  }
  if (!response.body) return Buffer.alloc(0);
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel().catch(() => undefined);
      throw new LookupFailed(`${what} is larger than ${limit} bytes`);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks);
}

const discard = (response: Response) => response.body?.cancel().catch(() => undefined);

function isUpgradeOrSameOrigin(from: URL, to: URL): boolean {
  return to.origin === from.origin || (to.protocol === 'https:' && to.hostname === from.hostname);
}

export async function resolveManifestDigest(reference: ManifestReference, options: ResolveOptions): Promise<DigestResolution> {
  const { name, tag } = reference;
  let api: URL;
  try {
    api = new URL(reference.apiUrl);
  } catch {
    return { error: `registry API URL "${reference.apiUrl}" is not a URL` };
  }
  if (api.protocol !== 'https:' && api.protocol !== 'http:') return { error: `registry API URL ${api.origin} is not http(s)` };
  if (api.username || api.password) return { error: 'registry API URL must not carry credentials' };
  if (!REPOSITORY_PATH.test(name)) return { error: `"${name}" is not a repository name` };
  if (!TAG.test(tag)) return { error: `"${tag}" is not a tag` };

  const doFetch = options.fetch ?? fetch;
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), options.timeoutMs);
  let step = 'asking for the manifest';
  const where = `${name}:${tag} at ${api.origin}`;

  /** One request, following same-host redirects only. */
  async function send(url: URL, init: { method: string; headers: Record<string, string> }): Promise<Response> {
    let current = url;
    for (let hop = 0; ; hop++) {
      const response = await doFetch(current, { ...init, redirect: 'manual', signal: controller.signal });
      const location = response.headers.get('location');
      if (response.status < 300 || response.status >= 400 || location === null) return response;
      await discard(response);
      const next = new URL(location, current);
      if (!isUpgradeOrSameOrigin(current, next)) {
        throw new LookupFailed(`${step}: ${current.origin} redirected to another host, ${next.origin}; not followed`);
      }
      if (hop + 1 > MAX_REDIRECTS) throw new LookupFailed(`${step}: more than ${MAX_REDIRECTS} redirects`);
      current = next;
    }
  }

  const base = api.href.replace(/\/+$/, '');
  const manifestUrl = new URL(`${base}/v2/${name}/manifests/${encodeURIComponent(tag)}`);
  const manifestRequest = (method: 'HEAD' | 'GET', authorization: Authorization) =>
    send(manifestUrl, {
      method,
      headers: { accept: MANIFEST_ACCEPT, ...(authorization ? { authorization: `${authorization.scheme} ${authorization.value}` } : {}) },
    });

  /** The bearer token the challenge's realm issues for its service and scope. */
  async function bearerToken(params: Record<string, string>): Promise<string> {
    step = 'asking the token service';
    const realm = params.realm;
    if (!realm) throw new LookupFailed('the registry asked for a bearer token but named no realm');
    let url: URL;
    try {
      url = new URL(realm);
    } catch {
      throw new LookupFailed(`the token realm "${realm}" is not a URL`);
    }
    if (url.protocol !== 'https:' && !(url.protocol === 'http:' && api.protocol === 'http:')) {
      throw new LookupFailed(`the token realm ${url.origin} is not https; not asked`);
    }
    if (url.username || url.password) throw new LookupFailed('the token realm carries credentials; not asked');
    if (params.service) url.searchParams.append('service', params.service);
    url.searchParams.append('scope', params.scope ?? `repository:${name}:pull`);
    const response = await send(url, {
      method: 'GET',
      headers: { accept: 'application/json', ...(options.credentials ? { authorization: basic(options.credentials) } : {}) },
    });
    if (response.status === 401 || response.status === 403) {
      await discard(response);
      throw new LookupFailed(
        options.credentials
          ? `the token service ${url.origin} refused the credentials (${response.status})`
          : `the token service ${url.origin} refused an anonymous token (${response.status}); credentials are needed`,
      );
    }
    if (response.status !== 200) {
      await discard(response);
      throw new LookupFailed(`the token service ${url.origin} answered ${response.status}`);
    }
    const body = await readLimited(response, TOKEN_BODY_LIMIT, 'the token answer');
    let parsed: unknown;
    try {
      parsed = JSON.parse(body.toString('utf8'));
    } catch {
      throw new LookupFailed(`the token service ${url.origin} answered something other than JSON`);
    }
    const { token, access_token: accessToken } = (typeof parsed === 'object' && parsed !== null ? parsed : {}) as Record<string, unknown>;
    const value = typeof token === 'string' && token !== '' ? token : accessToken;
    if (typeof value !== 'string' || value === '') throw new LookupFailed(`the token service ${url.origin} answered no token`);
    if (!/^[\x21-\x7e]+$/.test(value)) throw new LookupFailed(`the token service ${url.origin} answered a token that cannot be sent in a header`);
    return value;
  }

  /** What the 401's challenge asks for, obtained; an error when it cannot be met. */
  async function answerChallenge(response: Response): Promise<Authorization> {
    const challenge = parseChallenge(response.headers.get('www-authenticate') ?? '');
    await discard(response);
    if (challenge?.scheme === 'bearer') return { scheme: 'Bearer', value: await bearerToken(challenge.params) };
    if (challenge?.scheme === 'basic') {
      if (!options.credentials) throw new LookupFailed(`${where} needs credentials (Basic) and none are configured`);
      return { scheme: 'Basic', value: basic(options.credentials).slice('Basic '.length) };
    }
    throw new LookupFailed(`${where} answered 401 without a Bearer or Basic challenge`);
  }

  /** A 200 without the header: the spec makes it optional, so hash the manifest itself. */
  async function digestOfBody(authorization: Authorization): Promise<string> {
    step = 'reading the manifest';
    const response = await manifestRequest('GET', authorization);
    if (response.status !== 200) {
      await discard(response);
      throw new LookupFailed(`${where}: GET of the manifest answered ${response.status}`);
    }
    const header = response.headers.get('docker-content-digest');
    const body = await readLimited(response, MANIFEST_BODY_LIMIT, 'the manifest');
    const computed = `sha256:${createHash('sha256').update(body).digest('hex')}`;
    if (header === null) return computed;
    const named = validDigest(header);
    if (named.startsWith('sha256:') && named !== computed) {
      throw new LookupFailed(`${where}: Docker-Content-Digest ${named} does not match the manifest sent (${computed})`);
    }
    return named;
  }

  function validDigest(header: string): string {
    const value = header.trim();
    if (!isDigest(value)) throw new LookupFailed(`${where}: the registry's Docker-Content-Digest "${value.slice(0, 100)}" is not a digest`);
    return value;
  }

  try {
    let authorization: Authorization;
    let response = await manifestRequest('HEAD', undefined);
    if (response.status === 401) {
      authorization = await answerChallenge(response);
      step = 'asking for the manifest with a token';
      response = await manifestRequest('HEAD', authorization);
      if (response.status === 401) {
        await discard(response);
        return {
          error: `${where} answered 401 after ${authorization?.scheme === 'Bearer' ? 'a token was issued' : 'credentials were sent'}: the repository is private or missing, or the credentials cannot pull it`,
        };
      }
    }
    await discard(response);
    switch (response.status) {
      case 200: {
        const header = response.headers.get('docker-content-digest');
        return { digest: header === null ? await digestOfBody(authorization) : validDigest(header) };
      }
      case 404:
        return { error: `tag ${tag} of ${name} not found at ${api.origin} (404)` };
      case 403:
        return { error: `${where} refused the pull (403)` };
      case 429:
        return { error: `${where} is rate-limiting (429)` };
      default:
        return { error: `${where}: the manifest request answered ${response.status}` };
    }
  } catch (error) {
    if (controller.signal.aborted) return { error: `${where}: no answer within ${options.timeoutMs} ms (${step})` };
    if (error instanceof LookupFailed) return { error: error.message };
    return { error: `${where}: ${step} failed: ${networkProblem(error)}` };
  } finally {
    clearTimeout(timer);
  }
}

/** `ECONNREFUSED 127.0.0.1:5000` rather than undici's bare `fetch failed`. */
function networkProblem(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause;
  if (cause instanceof Error) {
    const code = (cause as { code?: unknown }).code;
    return typeof code === 'string' && !cause.message.includes(code) ? `${code} ${cause.message}` : cause.message;
  }
  return error.message;
}
