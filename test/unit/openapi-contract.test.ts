/** The checker that holds e2e answers to the OpenAPI document (test/support/openapi-contract.ts). */
import { describe, expect, it } from 'vitest';
import { holdToDocument, operationOf } from '../support/openapi-contract';

const url = (path: string) => `http://127.0.0.1:3001${path}`;
const json = 'application/json; charset=utf-8';
const error = JSON.stringify({ error: { code: 'not_found', message: 'policy pol_x not found' } });

describe('holding answers to the document', () => {
  it('matches a request to its operation, a literal segment before a parameter', () => {
    expect(operationOf('GET', '/api/v1/rollouts/active')?.key).toBe('GET /api/v1/rollouts/active');
    expect(operationOf('GET', '/api/v1/rollouts/ro-1')?.key).toBe('GET /api/v1/rollouts/{rolloutId}');
    expect(operationOf('POST', '/api/v1/devices/provision')?.key).toBe('POST /api/v1/devices/provision');
    expect(operationOf('PATCH', '/api/v1/policies')).toBeUndefined();
  });

  it('accepts a declared status whose body fits its schema', () => {
    expect(() => holdToDocument({ method: 'GET', url: url('/api/v1/policies/pol_x'), status: 404, text: error, contentType: json })).not.toThrow();
    expect(() => holdToDocument({ method: 'DELETE', url: url('/api/v1/policies/pol_x'), status: 204, text: '', contentType: json })).not.toThrow();
  });

  it('refuses a status the operation does not declare, naming the operation', () => {
    expect(() => holdToDocument({ method: 'GET', url: url('/api/v1/policies?limit=5'), status: 409, text: error, contentType: json })).toThrow(
      /GET \/api\/v1\/policies .*answered 409, a status its operation does not declare/,
    );
  });

  it('refuses a body its schema does not allow, listing the problems', () => {
    const policy = { id: 'pol_x', name: null, enabled: true, priority: '0' };
    expect(() => holdToDocument({ method: 'GET', url: url('/api/v1/policies/pol_x'), status: 200, text: JSON.stringify({ policy }), contentType: json })).toThrow(
      /GET \/api\/v1\/policies\/\{policyId\} .*answered 200 with a body its schema #\/components\/schemas\/PolicyResponse refuses:[\s\S]*\/policy\/priority must be integer/,
    );
    const extra = JSON.stringify({ error: { code: 'x', message: 'y', stack: 'at …' } });
    expect(() => holdToDocument({ method: 'GET', url: url('/api/v1/policies/pol_x'), status: 404, text: extra, contentType: json })).toThrow(/must NOT have additional properties/);
  });

  it('refuses a body where the document promises none, and leaves requests that are no operation alone', () => {
    expect(() => holdToDocument({ method: 'DELETE', url: url('/api/v1/policies/pol_x'), status: 204, text: '{}', contentType: json })).toThrow(/with a body/);
    expect(() => holdToDocument({ method: 'GET', url: url('/api/v1/nothing'), status: 404, text: error, contentType: json })).not.toThrow();
  });
});
