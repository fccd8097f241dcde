/**
 * Checking the shared secret a registry presents. Registries that cannot sign their requests
 * (Docker Hub, Distribution) can only repeat a token we gave them, so the token is compared in
 * constant time and nothing else of the request is read before it matches.
 *
 * An empty configured secret rejects every request: a deployment that forgot to set the secret
 * stays closed instead of accepting anyone's pushes.
 */
import { Unauthorized } from '../errors';
import { bearerTokenOf, constantTimeEqual, sha256Hex } from '../secrets';
import type { SharedToken, WebhookRequest } from './types';

/**
 * @param presented the credential as the sender presented it, if at all
 * @param howToSend tells the sender where the credential belongs, for the 401 message
 */
export function verifySharedSecret(presented: string | undefined, secret: string, howToSend: string): void {
  if (secret === '') {
    throw new Unauthorized('no webhook secret is configured, so every webhook is rejected');
  }
  if (presented === undefined || presented === '') {
    throw new Unauthorized(`webhook credential is missing: ${howToSend}`);
  }
  if (!constantTimeEqual(presented, secret)) {
    throw new Unauthorized('webhook credential is not valid');
  }
}

/** `authenticate` of a kind that only repeats a token: the token where `token` says, equal to `secret`. */
export function sharedTokenAuthentication(token: SharedToken): (request: WebhookRequest, secret: string) => void {
  return (request, secret) => verifySharedSecret(token.read(request), secret, token.howToSend);
}

/**
 * The same check against the secret's SHA-256 (lib/registries/secrets.ts keeps only that): the
 * presented token is hashed and the hashes are compared in constant time. SHA-256 of a
 * high-entropy secret needs no salt or stretching: nothing is guessable to precompute.
 */
export function verifySharedSecretHash(request: WebhookRequest, token: SharedToken, secretSha256: string): void {
  const presented = token.read(request);
  if (presented === undefined || presented === '') {
    throw new Unauthorized(`webhook credential is missing: ${token.howToSend}`);
  }
  if (secretSha256 === '' || !constantTimeEqual(sha256Hex(presented), secretSha256)) {
    throw new Unauthorized('webhook credential is not valid');
  }
}

/** A header by name, whatever case the caller kept its names in. */
export function header(request: WebhookRequest, name: string): string | undefined {
  const exact = request.headers[name];
  if (exact !== undefined) return exact;
  const wanted = name.toLowerCase();
  const found = Object.keys(request.headers).find((key) => key.toLowerCase() === wanted);
  return found === undefined ? undefined : request.headers[found];
}

/** The token of an `Authorization: Bearer <token>` header, or undefined when there is none. */
export function bearerToken(request: WebhookRequest): string | undefined {
  return bearerTokenOf(header(request, 'authorization'));
}
