/** The dashboard's files as the API serves them: content types, caching and the page's security headers. */
import { describe, expect, it } from 'vitest';
import { NotFound } from '../../lib/errors';
import { staticFiles } from '../../lib/http/static-files';

const text = (value: string) => new TextEncoder().encode(value);
const serve = staticFiles([
  { name: 'index.html', contentType: 'text/html; charset=utf-8', body: text('<!doctype html><title>x</title>') },
  { name: 'main-ABCD1234.js', contentType: 'text/javascript; charset=utf-8', body: text('console.log(1)') },
]);

describe('static files', () => {
  it('serve the page with a strict policy, revalidated by its ETag', () => {
    const page = serve('index.html', undefined);
    expect(page.statusCode).toBe(200);
    expect(page.body).toBe('<!doctype html><title>x</title>');
    expect(page.headers).toMatchObject({ 'content-type': 'text/html; charset=utf-8', 'x-content-type-options': 'nosniff', 'cache-control': 'no-cache', 'x-frame-options': 'DENY' });
    expect(String(page.headers!['content-security-policy'])).toMatch(/^default-src 'self'; script-src 'self';.*frame-ancestors 'none'$/);
    const etag = String(page.headers!.etag);
    expect(serve('index.html', etag).statusCode).toBe(304);
    expect(serve('index.html', `"other", W/${etag}`).statusCode).toBe(304);
    expect(serve('index.html', '"other"').statusCode).toBe(200);
  });

  it('keep a file whose name carries its hash for good, without the page-only headers', () => {
    const script = serve('main-ABCD1234.js', undefined);
    expect(script.headers).toMatchObject({ 'content-type': 'text/javascript; charset=utf-8', 'cache-control': 'public, max-age=31536000, immutable' });
    expect(script.headers).not.toHaveProperty('content-security-policy');
  });

  it('answer a name they do not have with a 404', () => {
    expect(() => serve('main.js', undefined)).toThrow(NotFound);
    expect(() => serve('../index.html', undefined)).toThrow(NotFound);
  });
});
