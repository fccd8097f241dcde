/** GET /api/v1/openapi.json: the API's OpenAPI document, for anyone; 304 while it is unchanged. */
import { isUnchanged } from '../lib/devices';
import { apiHandler } from '../lib/http/api';
import { openApiDocument, openApiEtag } from '../lib/http/openapi/document';

export const handler = apiHandler(
  {
    'GET /api/v1/openapi.json': async (request) => {
      // It changes only with a deployment: cached for five minutes, then revalidated by its ETag.
      const headers = { etag: openApiEtag(), 'cache-control': 'public, max-age=300' };
      if (isUnchanged(request.headers['if-none-match'], headers.etag)) return { status: 304, headers };
      return { status: 200, body: openApiDocument(), headers };
    },
  },
  { maxBodyBytes: 1024 },
);
