/**
 * The OpenAPI document (lib/http/openapi/): one operation per route of the manifest under /api/,
 * each declaring the route's auth rule; a valid OpenAPI 3.1 document; and docs/openapi.json as
 * the code generates it. That real answers keep to it is test/e2e/openapi-coverage.test.ts's.
 */
import { readFileSync } from 'node:fs';
import { validate, compileErrors } from '@readme/openapi-parser';
import { describe, expect, it } from 'vitest';
import { functions, type Route } from '../../infra/manifest';
import { committedDocumentPath } from '../../infra/write-openapi';
import { openApiDocument, openApiDocumentJson } from '../../lib/http/openapi/document';
import { operations } from '../../lib/http/openapi/operations';

const routes: Route[] = Object.values(functions).flatMap((spec) => ('routes' in spec ? (spec.routes as readonly Route[]) : []));
/** Routes outside /api/ (pages for browsers) are not part of the API. */
const apiRoutes = routes.filter((route) => route.path.startsWith('/api/'));
const keyOf = (route: Route) => `${route.method} ${route.path}`;

describe('the operations', () => {
  it('describe every route of the manifest under /api/, and only those', () => {
    expect(apiRoutes.length).toBeGreaterThan(20);
    const declared = apiRoutes.map(keyOf);
    expect(declared.filter((key) => !operations[key]), 'manifest routes without an operation').toEqual([]);
    expect(Object.keys(operations).filter((key) => !declared.includes(key)), 'operations naming no manifest route').toEqual([]);
  });

  it("declare each route's auth rule", () => {
    const mismatched = apiRoutes.filter((route) => operations[keyOf(route)]?.auth !== route.auth).map((route) => `${keyOf(route)}: manifest ${route.auth}, operation ${operations[keyOf(route)]?.auth}`);
    expect(mismatched).toEqual([]);
  });
});

describe('the document', () => {
  const document = openApiDocument() as any;

  it('is a valid OpenAPI 3.1 document', async () => {
    const result = await validate(structuredClone(document));
    expect(result.valid, result.valid ? '' : compileErrors(result)).toBe(true);
    expect(document.openapi).toBe('3.1.0');
  });

  it('asks each operation for the credential its rule names, and none of a public one', () => {
    expect(document.paths['/api/v1/policies'].get.security).toEqual([{ adminKey: [] }]);
    expect(document.paths['/api/v1/devices/{uuid}/state'].patch.security).toEqual([{ deviceToken: [] }]);
    expect(document.paths['/api/v1/webhooks/{registry}'].post.security).toEqual([{ webhookToken: [] }, { webhookBearer: [] }]);
    expect(document.components.securitySchemes.webhookToken).toMatchObject({ type: 'apiKey', in: 'query', name: 'token' });
    expect(document.paths['/api/v1/openapi.json'].get.security).toEqual([]);
    expect(document.paths['/api/v1/openapi.json'].get.responses['401']).toBeUndefined();
  });

  it('takes request bodies as the handlers accept them: a defaulted field is optional', () => {
    const policyInput = document.components.schemas.PolicyInput;
    expect(policyInput.required).toEqual(['image_pattern']);
    expect(policyInput.additionalProperties).toBe(false);
    expect(document.paths['/api/v1/policies'].post.requestBody.content['application/json'].schema).toEqual({ $ref: '#/components/schemas/PolicyInput' });
    // pause takes `{}` or nothing at all
    expect(document.paths['/api/v1/rollouts/{rolloutId}/pause'].post.requestBody.required).toBe(false);
  });

  it('names the refusals each operation can answer, all in the error shape', () => {
    const poll = document.paths['/api/v1/devices/{uuid}/state'].get.responses;
    expect(Object.keys(poll).sort()).toEqual(['200', '304', '400', '401', '403', '404', '500']);
    const create = document.paths['/api/v1/devices'].post.responses;
    expect(Object.keys(create).sort()).toEqual(['201', '400', '401', '403', '409', '413', '415', '500']);
    expect(create['409'].content['application/json'].schema).toEqual({ $ref: '#/components/schemas/Error' });
    expect(document.paths['/api/v1/rollouts/{rolloutId}/devices'].get.parameters.map((p: any) => p.name)).toEqual(['rolloutId', 'limit', 'cursor']);
  });

  it('is committed as docs/openapi.json', () => {
    const committed = readFileSync(committedDocumentPath, 'utf8');
    expect(committed === openApiDocumentJson(), 'docs/openapi.json differs from what the code generates: run `npm run openapi`').toBe(true);
  });
});
