/**
 * Who may call a route, as the manifest declares it for each one (`Route.auth`).
 *
 * The handlers enforce it (lib/http/auth.ts, lib/registry/sender-auth.ts); the manifest says it,
 * so that the rule of every route can be read in one place and held against what the handlers
 * do: the auth matrix (test/e2e/auth-matrix.test.ts) sends every credential to every route and
 * expects the answer this rule implies. A route with no rule, or with a rule not listed here, is a
 * wiring mistake both hosts refuse, rather than a route nobody decided about.
 */
import type { FunctionSpec } from './manifest';

/** Every rule a route may declare, with what it asks of the caller. */
export const routeAuthRules = {
  /** `Authorization: Bearer <admin key>`; a device token is refused with 403, anything else with 401. */
  admin: 'the admin key as a bearer token',
  /** The token of the device the path's `{uuid}` names; another device's token or the admin key is refused with 403. */
  device: "the token of the device named by the path's {uuid}, as a bearer token",
  /** `Authorization: Bearer fpk_…`: a provisioning key that is neither revoked, expired nor used up. */
  provisioningKey: 'a provisioning key as a bearer token',
  /**
   * The secret of the registry the path's `{registry}` names, where its kind sends it (Docker Hub:
   * `?token=`; Distribution: a bearer header): a configured registry's own, a default registry's
   * the deployment's webhook secret.
   */
  webhookSecret: "the secret of the path's {registry}, where its kind sends it",
  /** No credential: anyone may call it. Only what holds no secret: the API's OpenAPI document and the dashboard's static files (its data needs the admin key), and test fixtures. */
  public: 'nothing',
} as const;

export type RouteAuth = keyof typeof routeAuthRules;

export function isRouteAuth(value: unknown): value is RouteAuth {
  return typeof value === 'string' && Object.hasOwn(routeAuthRules, value);
}

/**
 * One line per route whose `auth` is missing or not a known rule; empty when every route has one.
 * The type already demands a known rule; this catches what a JavaScript caller or a cast let through.
 */
export function routeAuthProblems(functions: Readonly<Record<string, FunctionSpec>>): string[] {
  const known = Object.keys(routeAuthRules).join(', ');
  return Object.entries(functions).flatMap(([name, spec]) =>
    (spec.routes ?? [])
      .filter((route) => !isRouteAuth((route as { auth?: unknown }).auth))
      .map((route) =>
        route.auth === undefined
          ? `route ${route.method} ${route.path} of function ${name} declares no auth (one of ${known})`
          : `route ${route.method} ${route.path} of function ${name} declares auth ${JSON.stringify(route.auth)}, which is not one of ${known}`,
      ),
  );
}
