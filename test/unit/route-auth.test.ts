/**
 * Every route of the manifest says who may call it, and a route that does not is caught before
 * any host serves it: by the check both hosts run (infra/route-auth.ts), not only by the type.
 */
import { describe, expect, it } from 'vitest';
import { functions, type FunctionSpec } from '../../infra/manifest';
import { isRouteAuth, routeAuthProblems, routeAuthRules } from '../../infra/route-auth';

const fn = (routes: unknown[]): FunctionSpec => ({
  entry: 'functions/fixture.ts',
  description: 'fixture',
  timeoutSeconds: 5,
  memoryMb: 128,
  // What a JavaScript caller, a cast or a merge could hand the hosts.
  routes: routes as FunctionSpec['routes'],
});

describe('routeAuthProblems', () => {
  it('finds nothing to say about the manifest: every route has a known rule', () => {
    expect(routeAuthProblems(functions)).toEqual([]);
    const rules = Object.values(functions).flatMap((spec) => ('routes' in spec ? spec.routes.map((route) => route.auth) : []));
    expect(rules.length).toBeGreaterThan(20);
    expect(rules.every(isRouteAuth)).toBe(true);
  });

  it('names a route that declares no auth, and one whose auth is not a rule, with the function and the rules there are', () => {
    const problems = routeAuthProblems({
      ...functions,
      reports: fn([
        { method: 'GET', path: '/api/v1/reports', auth: 'admin' },
        { method: 'GET', path: '/api/v1/reports/{reportId}' },
        { method: 'DELETE', path: '/api/v1/reports/{reportId}', auth: 'superuser' },
        { method: 'PUT', path: '/api/v1/reports/{reportId}', auth: null },
      ]),
    });
    const known = Object.keys(routeAuthRules).join(', ');
    expect(problems).toEqual([
      `route GET /api/v1/reports/{reportId} of function reports declares no auth (one of ${known})`,
      `route DELETE /api/v1/reports/{reportId} of function reports declares auth "superuser", which is not one of ${known}`,
      `route PUT /api/v1/reports/{reportId} of function reports declares auth null, which is not one of ${known}`,
    ]);
  });

  it('takes no name from Object.prototype for a rule', () => {
    for (const auth of ['constructor', 'toString', '__proto__', 'hasOwnProperty']) {
      expect(isRouteAuth(auth)).toBe(false);
      expect(routeAuthProblems({ f: fn([{ method: 'GET', path: '/x', auth }]) })).toHaveLength(1);
    }
  });
});
