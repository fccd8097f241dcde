/**
 * Serving a fixed set of files over the API (the dashboard's page and bundle): content types,
 * security headers on the page, and caching that never serves a stale bundle. Hashed names
 * (`main-3FJ2K.js`) are kept for a year; everything else is revalidated with its ETag.
 */
import { createHash } from 'node:crypto';
import type { APIGatewayProxyResult } from 'aws-lambda';
import { NotFound } from '../errors';

export interface StaticFile {
  name: string;
  contentType: string;
  body: Uint8Array;
}

/** Only what the page's own origin serves: no inline script or style, no framing, no plugins. */
export const contentSecurityPolicy = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

const hashedName = /-[A-Z0-9]{8}\.(js|css)$/;

interface Prepared {
  file: StaticFile;
  etag: string;
  headers: Record<string, string>;
}

function prepare(file: StaticFile): Prepared {
  const etag = `"${createHash('sha256').update(file.body).digest('base64url').slice(0, 27)}"`;
  const headers: Record<string, string> = {
    'content-type': file.contentType,
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    etag,
    'cache-control': hashedName.test(file.name) ? 'public, max-age=31536000, immutable' : 'no-cache',
  };
  if (file.contentType.startsWith('text/html')) {
    headers['content-security-policy'] = contentSecurityPolicy;
    headers['x-frame-options'] = 'DENY';
  }
  return { file, etag, headers };
}

/** Answers a request for one of `files` by name; `If-None-Match` with its ETag gets a 304. */
export function staticFiles(files: readonly StaticFile[]) {
  const byName = new Map(files.map((file) => [file.name, prepare(file)]));
  return (name: string, ifNoneMatch: string | undefined): APIGatewayProxyResult => {
    const found = byName.get(name);
    if (!found) throw new NotFound(`no file ${name}`);
    const matches = ifNoneMatch?.split(',').some((tag) => tag.trim().replace(/^W\//, '') === found.etag) ?? false;
    if (matches) return { statusCode: 304, headers: found.headers, body: '' };
    // Text, sent as it is: API Gateway decodes base64 bodies only for its configured binary types.
    return { statusCode: 200, headers: found.headers, body: Buffer.from(found.file.body).toString('utf8') };
  };
}
