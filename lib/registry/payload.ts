/**
 * Reading a webhook body: content type, JSON, schema. Every rejection names the field or the
 * problem, so whoever configured the registry can fix it from the response alone.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { Invalid, UnsupportedMediaType } from '../errors';
import { isDigest, parseImageReference, REGISTRY_HOST, REPOSITORY_PATH, TAG } from './image-reference';
import { header } from './sender-auth';
import type { WebhookRequest } from './types';

/** A missing content type is accepted (the body is JSON either way); a different one is not. */
export function requireContentType(request: WebhookRequest, accepted: readonly string[]): void {
  const value = header(request, 'content-type');
  if (value === undefined || value.trim() === '') return;
  const mediaType = (value.split(';')[0] ?? '').trim().toLowerCase();
  if (!accepted.includes(mediaType)) {
    throw new UnsupportedMediaType(`content-type ${mediaType} is not supported; send ${accepted.join(' or ')}`);
  }
}

export function parseJsonObject(body: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    throw new Invalid('body is not valid JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new Invalid('body must be a JSON object');
  }
  return value as Record<string, unknown>;
}

/** A short, stable id for a delivery the registry gave no id of its own. */
export function stableId(...parts: string[]): string {
  return createHash('sha256').update(parts.join('\n'), 'utf8').digest('hex').slice(0, 32);
}

/**
 * JSON with every object's keys sorted, so that a payload re-serialised by a proxy (other key
 * order, other whitespace) still identifies the same delivery.
 */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([key, inner]) => `${JSON.stringify(key)}:${canonicalJson(inner)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/**
 * The delivery id of one push of a delivery. Each push is claimed on its own, so when one
 * delivery carries several (a Harbor event for two tags, a Quay push of three), each gets the
 * delivery's id followed by its tag; a delivery of one push keeps the registry's id as it is.
 */
export function pushDeliveryId(deliveryId: string, tag: string, pushesInDelivery: number): string {
  return pushesInDelivery === 1 ? deliveryId : `${deliveryId}:${tag}`;
}

/**
 * Checks `repository:tag` as a whole: each part can be valid and the whole not (a host and a
 * path too long together).
 * @param where the field the repository came from, for the message
 */
export function checkReference(repository: string, tag: string, where: string): void {
  try {
    parseImageReference(`${repository}:${tag}`);
  } catch (error) {
    throw new Invalid(`${where}: ${error instanceof Error ? error.message : String(error)}`);
  }
}

// Field schemas shared by the registries. Messages follow the field name: "<field> must be …".
const nonEmpty = () => z.string().min(1, { abort: true });

export const tagField = nonEmpty().regex(
  TAG,
  'must be a tag (letters, digits, _ . -, at most 128 characters, not starting with . or -)',
);
export const repositoryPathField = nonEmpty().regex(
  REPOSITORY_PATH,
  'must be a repository path such as team/app (lower-case letters, digits and the separators . _ __ -)',
);
export const registryHostField = nonEmpty().regex(REGISTRY_HOST, 'must be a host name with an optional port');
export const digestField = nonEmpty().refine(isDigest, 'must be a digest such as sha256:<64 hex digits>');
export const timeField = z.iso.datetime({ offset: true, error: 'must be an RFC 3339 time' });

/** Also catches a time sent in milliseconds, which would otherwise land tens of millennia ahead. */
const LAST_SECOND_OF_9999 = Date.UTC(9999, 11, 31, 23, 59, 59) / 1000;
const EPOCH_SECONDS_MESSAGE = 'must be a time in epoch seconds';
export const epochSecondsField = z.number().positive(EPOCH_SECONDS_MESSAGE).max(LAST_SECOND_OF_9999, EPOCH_SECONDS_MESSAGE);

/** Optional strings that Go's `omitempty` normally leaves out but a sender may send as "". */
export const blankAsMissing = (value: unknown): unknown => (value === '' || value === null ? undefined : value);
