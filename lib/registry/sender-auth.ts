/**
 * Checking the credential a registry presents. Registries that cannot sign their requests
 * (Docker Hub, Distribution, Quay, …) can only repeat a token we gave them; the ones that can
 * (GitHub, JFrog) send an HMAC-SHA256 of the raw body keyed with the secret. Either way the
 * comparison is in constant time, and nothing of the body is parsed before it matches.
 *
 * An empty configured secret rejects every request: a deployment that forgot to set the secret
 * stays closed instead of accepting anyone's pushes.
 */
import { createHmac } from 'node:crypto';
import { Unauthorized } from '../errors';
import { bearerTokenOf, constantTimeEqual, sha256Hex } from '../secrets';
import type { SharedToken, WebhookRequest } from './types';

/**
 * The one shape of every sender check: no secret configured, no credential presented, and a
 * credential that does not match are three different 401s, the last two saying where the
 * credential belongs so that whoever configures the registry can fix it from the answer alone.
 *
 * @param presented the credential as the sender presented it, if at all
 * @param accepts whether `presented` proves the sender knows the secret; compares in constant time
 * @param howToSend tells the sender where the credential belongs, for the 401 message
 */
export function verifyCredential(
  presented: string | undefined,
  secret: string,
  accepts: (presented: string) => boolean,
  howToSend: string,
): void {
  if (secret === '') {
    throw new Unauthorized('no webhook secret is configured, so every webhook is rejected');
  }
  if (presented === undefined || presented === '') {
    throw new Unauthorized(`webhook credential is missing: ${howToSend}`);
  }
  if (!accepts(presented)) {
    throw new Unauthorized(`webhook credential is not valid: ${howToSend}`);
  }
}

/** The secret itself, repeated by the sender. */
export function verifySharedSecret(presented: string | undefined, secret: string, howToSend: string): void {
  verifyCredential(presented, secret, (value) => constantTimeEqual(value, secret), howToSend);
}

/** Hex HMAC-SHA256 of the body as received, keyed with the secret: what GitHub and JFrog sign with. */
export function hmacSha256Hex(secret: string, body: string): string {
  return createHmac('sha256', secret).update(body, 'utf8').digest('hex');
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
    throw new Unauthorized(`webhook credential is not valid: ${token.howToSend}`);
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
