/**
 * Reading a webhook body: content type, JSON, schema. Every rejection names the field or the
 * problem, so whoever configured the registry can fix it from the response alone.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { Invalid, UnsupportedMediaType } from '../errors';
import { isDigest, REGISTRY_HOST, REPOSITORY_PATH, TAG } from './image-reference';
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
