/**
 * `npm run openapi`: writes the API's OpenAPI document to docs/openapi.json, where outsiders find
 * it without running anything. test/unit/openapi.test.ts fails while the committed file differs.
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { openApiDocumentJson } from '../lib/http/openapi/document';

export const committedDocumentPath = fileURLToPath(new URL('../docs/openapi.json', import.meta.url));

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  writeFileSync(committedDocumentPath, openApiDocumentJson());
  console.log(`wrote ${committedDocumentPath}`);
}
