/** Hashing and comparing bearer credentials. Keys and tokens are random, so SHA-256 suffices. */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

export function sha256Hex(value: string): string {
  return createHash('sha256').update(value, 'utf8').digest('hex');
}

/** The token of an `Authorization: Bearer <token>` header value; undefined when it is not one. */
export function bearerTokenOf(header: string | undefined): string | undefined {
  const match = header === undefined ? null : /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
  return match?.[1];
}

/** Equal in constant time for equal lengths; different lengths are unequal at once. */
export function constantTimeEqual(a: string, b: string): boolean {
  const left = Buffer.from(a, 'utf8');
  const right = Buffer.from(b, 'utf8');
  return left.length === right.length && timingSafeEqual(left, right);
}

export function randomSecret(bytes = 32): string {
  return randomBytes(bytes).toString('base64url');
}

/**
 * A new admin API key: recognisable by its prefix so that leaked keys can be found by scanners.
 * This is the shape of a deployment's configured key (the embedded host's own); named keys,
 * made through the API, are `fra_<ulid>.<secret>` (below). A configured key has no `.`
 * (base64url has none), so the two shapes never meet.
 */
export function newAdminKey(): string {
  return `fra_${randomSecret()}`;
}

const namedAdminKeyPattern = /^fra_([0-9a-z]{26})\.([A-Za-z0-9_-]{20,})$/;

/** A named admin key names its key's id (`ak_<ulid>`) as `fra_<ulid>.<secret>`, so checking it is one read. */
export function newNamedAdminKey(id: string): string {
  return `fra_${id.replace(/^ak_/, '')}.${randomSecret()}`;
}

/** The id of the named admin key a bearer token is shaped like, or undefined. */
export function adminKeyIdOf(token: string): string | undefined {
  const ulid = namedAdminKeyPattern.exec(token)?.[1];
  return ulid && `ak_${ulid}`;
}

const deviceTokenPattern = /^dt_([0-9a-zA-Z-]{1,64})\.([A-Za-z0-9_-]{20,})$/;

/** A device's token names the device, so checking it is one read of that device. */
export function newDeviceToken(uuid: string): string {
  return `dt_${uuid}.${randomSecret()}`;
}

/** The uuid a device token names, or undefined when it is not shaped like one. */
export function deviceOfToken(token: string): string | undefined {
  return deviceTokenPattern.exec(token)?.[1];
}

const provisioningKeyPattern = /^fpk_([0-9a-z]{26})\.([A-Za-z0-9_-]{20,})$/;

/** A provisioning key names its key's id (`pvk_<ulid>`) as `fpk_<ulid>.<secret>`, so checking it is one read. */
export function newProvisioningKey(id: string): string {
  return `fpk_${id.replace(/^pvk_/, '')}.${randomSecret()}`;
}

/** The id of the provisioning key a bearer token is shaped like, or undefined. */
export function provisioningKeyIdOf(token: string): string | undefined {
  const ulid = provisioningKeyPattern.exec(token)?.[1];
  return ulid && `pvk_${ulid}`;
}
