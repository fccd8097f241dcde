/**
 * The auth matrix (DESIGN §6.7, §7): every route of the manifest, sent every credential a caller
 * could hold, answers what the route's declared `auth` rule implies, and a refused request writes
 * nothing to the table. Through real HTTP on the embedded host.
 *
 * The routes come from the manifest and the expected status from each route's `auth`, so a route
 * added to the manifest is in the matrix the day it is declared; until it has a valid request
 * below (`requests`), its cases fail asking for one. Each request is valid but for its credential,
 * so that only the credential decides; a request whose acceptance changes its target (a delete, a
 * start, a rollback) gets a fresh target, and the refused ones share another in the same state,
 * which would change were one of them let through.
 */
import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { DynamoDBClient, type AttributeValue } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHost, type Host } from '../../infra/embedded/host';
import { functions, type Route, type RouteAuth } from '../../infra/manifest';
import { routeAuthProblems } from '../../infra/route-auth';
import { registries, type WebhookKind } from '../../lib/registry';
import { apiClient, expectError, waitFor, type ApiResult } from '../support/api';
import { flow } from '../support/flow';
import { tableSnapshot } from '../support/table';

let host: Host;
let api: ReturnType<typeof apiClient>;
let steps: ReturnType<typeof flow>;
let dynamo: DynamoDBClient;

// --- credentials -----------------------------------------------------------------------------

/** What a caller may hold, and where it puts it. */
const credentials = [
  'no credential',
  'a wrong bearer token',
  'a forged device token',
  'the admin key',
  'a named admin key',
  'a revoked admin key',
  "the device's own token",
  "another device's token",
  'a provisioning key',
  // The secret of the registry a webhook route names (a default registry's: the global webhook
  // secret), in each place a registry could put it; and secrets of other registries, where this
  // one's kind sends its own.
  'the webhook secret as a bearer token',
  'the webhook secret as ?token=',
  'the webhook secret as ?secret=',
  'the webhook secret in the body',
  'the webhook secret as X-JFrog-Event-Auth',
  "the body's HMAC with the webhook secret as X-Hub-Signature-256",
  "another registry's secret",
  'the global webhook secret',
] as const;
type Credential = (typeof credentials)[number];

/** How a test names the credential: on a route that names no device, a device token is just that. */
function nameOf(credential: Credential, route: Route): string {
  if (route.path.includes('{uuid}')) return credential;
  if (credential === "the device's own token") return 'a device token';
  if (credential === "another device's token") return "a second device's token";
  return credential;
}

/** Where each kind of registry sends its secret (lib/registry/*.ts). */
const secretPlaceOf: Record<WebhookKind, Credential> = {
  'docker-hub': 'the webhook secret as ?token=',
  distribution: 'the webhook secret as a bearer token',
  ghcr: "the body's HMAC with the webhook secret as X-Hub-Signature-256",
  harbor: 'the webhook secret as a bearer token',
  quay: 'the webhook secret as ?token=',
  gitlab: 'the webhook secret as a bearer token',
  acr: 'the webhook secret as a bearer token',
  jfrog: 'the webhook secret as X-JFrog-Event-Auth',
};

/**
 * The registries a webhook route is sent to: the two defaults, which take the global webhook
 * secret, and a configured registry of each kind with a secret of its own (made in beforeAll).
 */
const defaultRegistries: Record<string, WebhookKind> = { 'docker-registry': 'docker-hub', distribution: 'distribution' };
const configuredRegistries: Record<string, WebhookKind> = Object.fromEntries((Object.keys(registries) as WebhookKind[]).map((kind) => [`auth-${kind}`, kind]));
const webhookRegistries: Record<string, WebhookKind> = { ...defaultRegistries, ...configuredRegistries };
/** Each configured registry's own secret; a default's is the host's webhook secret. */
const registrySecrets = new Map<string, string>();
const secretOf = (registry: string) => (Object.hasOwn(defaultRegistries, registry) ? host.webhookSecret : registrySecrets.get(registry)!);

/**
 * The status a credential gets from a route with this rule, `accepted` being the route's answer
 * to a valid request. A device token on an admin route, and another device's token or the admin
 * key on a device route, are known callers in the wrong place: 403. Everything else is 401.
 */
function expectedStatus(auth: RouteAuth, credential: Credential, accepted: number, registry?: string): number {
  switch (auth) {
    case 'public':
      return accepted;
    case 'admin':
      if (credential === 'the admin key' || credential === 'a named admin key') return accepted;
      return credential === "the device's own token" || credential === "another device's token" ? 403 : 401;
    case 'device':
      if (credential === "the device's own token") return accepted;
      return credential === "another device's token" || credential === 'the admin key' || credential === 'a named admin key' ? 403 : 401;
    case 'provisioningKey':
      return credential === 'a provisioning key' ? accepted : 401;
    case 'webhookSecret':
      if (registry === undefined) throw new Error('a webhook route names its registry');
      return credential === secretPlaceOf[webhookRegistries[registry]!] ? accepted : 401;
    default:
      // Reached only when the manifest was bypassed at runtime; routeAuthProblems names the route.
      throw new Error(`auth rule ${JSON.stringify(auth satisfies never)} has no expected statuses`);
  }
}

// --- the things the paths name ---------------------------------------------------------------

interface Device {
  uuid: string;
  token: string;
}

/** Path parameter → id. */
type Ids = Record<string, string>;

/** Tokens of every device registered here, so that a path's `{uuid}` has its own token. */
const tokens = new Map<string, string>();
let deviceA: Device;
let deviceB: Device;
let provisioningKey: string;
let namedAdminKey: string;
let revokedAdminKey: string;
let base: Ids;
let serial = 0;
const unique = (what: string) => `${what}-${++serial}`;

async function registerDevice(image = 'iotistic/auth-app:v1'): Promise<Device> {
  const { status, body } = await api('POST', '/api/v1/devices', { body: { name: unique('auth-device'), apps: [{ name: 'app', image }] } });
  expect(status, JSON.stringify(body)).toBe(201);
  tokens.set(body.device.uuid, body.device_token);
  return { uuid: body.device.uuid, token: body.device_token };
}

async function createdId(path: string, body: unknown, pick: (body: any) => string): Promise<string> {
  const response = await api('POST', path, { body });
  expect(response.status, `POST ${path}: ${JSON.stringify(response.body)}`).toBe(201);
  return pick(response.body);
}

const newPolicy = () => createdId('/api/v1/policies', { image_pattern: `iotistic/${unique('auth-policy')}:*` }, (b) => b.policy.id);
const newKey = () => createdId('/api/v1/provisioning-keys', { name: unique('auth-key') }, (b) => b.provisioning_key.id);
const newAdminKey = () => createdId('/api/v1/admin-keys', { name: unique('auth-admin') }, (b) => b.admin_key.id);
/** A receiver that is never there (TEST-NET-3), subscribed to nothing the matrix makes happen. */
const subscriptionBody = () => ({ url: `https://203.0.113.9/${unique('auth-hook')}`, event_types: ['image.rollout_failed'] });
const newSubscription = () => createdId('/api/v1/notifications', subscriptionBody(), (b) => b.subscription.id);
const newRegistry = () => createdId('/api/v1/registries', { name: unique('auth-registry'), kind: 'distribution' }, (b) => b.registry.name);

/** The repository webhook pushes go to: a manual policy matches it, and no device runs it. */
const hookRepository = 'iotistic/auth-hook';

/** A push of a new tag of `hookRepository` (under the registry's own host, where it names one), as `registry` reports it. */
function pushBody(registry: WebhookKind): Record<string, unknown> {
  const tag = unique('v');
  const digest = `sha256:${randomBytes(32).toString('hex')}`;
  const [namespace, name] = hookRepository.split('/') as [string, string];
  const target = { mediaType: 'application/vnd.docker.distribution.manifest.v2+json', repository: hookRepository, tag, digest };
  switch (registry) {
    case 'docker-hub':
      return { push_data: { tag, pushed_at: Math.floor(Date.now() / 1000), pusher: 'ci' }, repository: { repo_name: hookRepository } };
    case 'distribution':
    case 'gitlab':
      return { events: [{ id: randomUUID(), timestamp: new Date().toISOString(), action: 'push', target }] };
    case 'acr':
      return { id: randomUUID(), timestamp: new Date().toISOString(), action: 'push', target, request: { host: 'auth.azurecr.io' } };
    case 'ghcr':
      return { action: 'published', package: { name, package_type: 'CONTAINER', owner: { login: namespace }, package_version: { container_metadata: { tag: { name: tag, digest } } } } };
    case 'harbor':
      return {
        type: 'PUSH_ARTIFACT',
        occur_at: Math.floor(Date.now() / 1000),
        event_data: { resources: [{ tag, digest, resource_url: `harbor.example.com/${hookRepository}:${tag}` }], repository: { name, namespace, repo_full_name: hookRepository } },
      };
    case 'quay':
      return { repository: hookRepository, namespace, name, docker_url: `quay.io/${hookRepository}`, updated_tags: [tag] };
    case 'jfrog':
      return { domain: 'docker', event_type: 'pushed', data: { repo_key: 'docker-local', image_name: hookRepository, tag, sha256: digest.slice('sha256:'.length) }, jpd_origin: 'https://auth.jfrog.io' };
  }
}

interface RolloutTarget {
  rolloutId: string;
  /** A device of the rollout: in a started rollout, the one that took the new image. */
  device: Device;
}

/**
 * A manual rollout of its own repository (a newer push to the same repository would supersede
 * it) to two devices in two batches, planned and waiting for its start.
 */
async function plannedRollout(): Promise<RolloutTarget & { devices: Device[] }> {
  const repository = `iotistic/${unique('auth-rollout')}`;
  const devices = [await registerDevice(`${repository}:v1`), await registerDevice(`${repository}:v1`)];
  await steps.createPolicy({ image_pattern: `${repository}:*`, update_strategy: 'manual', batch_percentages: [50, 100], batch_delay_minutes: 30 });
  const pushed = await steps.push(repository, 'v2');
  expect(pushed.status, JSON.stringify(pushed.body)).toBe(202);
  const rolloutId: string = pushed.body.rollouts[0].id;
  await steps.waitForRollout(rolloutId, (d) => d.rollout.planned === true, 'planned');
  return { rolloutId, device: devices[0]!, devices };
}

/** A rollout of its own repository to one device, planned and waiting for one admin's approval. */
async function awaitingApproval(): Promise<RolloutTarget> {
  const repository = `iotistic/${unique('auth-approval')}`;
  const device = await registerDevice(`${repository}:v1`);
  await steps.createPolicy({ image_pattern: `${repository}:*`, update_strategy: 'manual', approvals_required: 1 });
  const rolloutId: string = (await steps.push(repository, 'v2')).body.rollouts[0].id;
  await steps.waitForRollout(rolloutId, (d) => d.rollout.planned === true, 'planned');
  return { rolloutId, device };
}

async function control(rolloutId: string, command: string, status: string): Promise<void> {
  const response = await api('POST', `/api/v1/rollouts/${rolloutId}/${command}`, { body: {} });
  expect(response.status, `${command}: ${JSON.stringify(response.body)}`).toBe(200);
  await steps.waitForStatus(rolloutId, status);
}

/**
 * A started rollout at rest: its first batch's device took the new image and the second batch
 * waits out its 30-minute delay, so nothing about it is due while the matrix runs (a batch still
 * waiting for reports would be recounted every few ticks, a write no request made).
 */
async function startedRollout(): Promise<RolloutTarget> {
  const { rolloutId, devices } = await plannedRollout();
  await control(rolloutId, 'start', 'in_progress');
  const { device, state } = await waitFor(async () => {
    for (const device of devices) {
      const polled = await api('GET', `/api/v1/devices/${device.uuid}/state`, { token: device.token });
      if (polled.body?.apps?.[0]?.image?.endsWith(':v2')) return { device, state: polled.body };
    }
    return undefined;
  }, 30_000, 'a device of the first batch to get the new target');
  const report = { apps: [{ name: 'app', image: state.apps[0].image, status: 'running' }], target_version: state.version };
  expect((await api('PATCH', `/api/v1/devices/${device.uuid}/state`, { token: device.token, body: report })).status).toBe(200);
  await steps.waitForRollout(rolloutId, (d) => d.rollout.batches[0]?.status === 'completed', 'first batch completed');
  return { rolloutId, device };
}

const rolloutIds = async (make: () => Promise<RolloutTarget>): Promise<Ids> => {
  const { rolloutId, device } = await make();
  return { rolloutId, uuid: device.uuid };
};

// --- one valid request per route -------------------------------------------------------------

interface RouteRequest {
  /** The answer to a valid request with the right credential. */
  accepted: number;
  body?: (ids: Ids) => unknown;
  /** Ids for a request whose acceptance changes what it names; without it, the shared ones. */
  fresh?: () => Promise<Ids>;
  /** Stops what the accepted request set going, where it would keep writing while the matrix runs. */
  putToRest?: (ids: Ids) => Promise<void>;
}

const report = { apps: [{ name: 'app', image: 'iotistic/auth-app:v1', status: 'running' }] };
const registration = () => ({ name: unique('auth-registered'), apps: [{ name: 'app', image: 'iotistic/auth-app:v1' }] });
const reason = () => ({ reason: 'auth matrix' });

/** A file the dashboard's page loads (its names carry a hash of the build). */
async function dashboardFile(): Promise<Ids> {
  const page = await api('GET', '/dashboard', { token: null });
  const file = /src="dashboard\/([^"]+)"/.exec(String(page.body))?.[1];
  if (!file) throw new Error(`the dashboard's page names no script: ${String(page.body).slice(0, 300)}`);
  return { file };
}

const requests: Record<string, RouteRequest> = {
  // Static files: every caller gets them, whatever it holds; the data behind them needs the admin key.
  'GET /dashboard': { accepted: 200 },
  'GET /dashboard/{file}': { accepted: 200 },
  'POST /api/v1/webhooks/{registry}': { accepted: 202, body: (ids) => pushBody(webhookRegistries[ids.registry!]!) },
  'GET /api/v1/registries': { accepted: 200 },
  'POST /api/v1/registries': { accepted: 201, body: () => ({ name: unique('auth-created-registry'), kind: 'docker-hub' }) },
  'GET /api/v1/registries/{name}': { accepted: 200 },
  'PATCH /api/v1/registries/{name}': { accepted: 200, body: () => ({ rate_limit_per_minute: 60, rotate_secret: true }), fresh: async () => ({ name: await newRegistry() }) },
  'DELETE /api/v1/registries/{name}': { accepted: 204, fresh: async () => ({ name: await newRegistry() }) },
  'GET /api/v1/policies': { accepted: 200 },
  'POST /api/v1/policies': { accepted: 201, body: () => ({ image_pattern: `iotistic/${unique('auth-created')}:*` }) },
  'GET /api/v1/policies/{policyId}': { accepted: 200 },
  'PUT /api/v1/policies/{policyId}': {
    accepted: 200,
    body: () => ({ image_pattern: `iotistic/${unique('auth-replaced')}:*` }),
    fresh: async () => ({ policyId: await newPolicy() }),
  },
  'DELETE /api/v1/policies/{policyId}': { accepted: 204, fresh: async () => ({ policyId: await newPolicy() }) },
  'GET /api/v1/devices': { accepted: 200 },
  'POST /api/v1/devices': { accepted: 201, body: registration },
  'GET /api/v1/devices/{uuid}': { accepted: 200 },
  'PATCH /api/v1/devices/{uuid}': { accepted: 200, body: () => ({ labels: { ring: 'canary' } }), fresh: async () => ({ uuid: (await registerDevice()).uuid }) },
  'PUT /api/v1/devices/{uuid}/apps/{app}': {
    accepted: 200,
    body: () => ({ container: { restart_policy: 'always' } }),
    fresh: async () => ({ uuid: (await registerDevice()).uuid, app: 'app' }),
  },
  'DELETE /api/v1/devices/{uuid}': { accepted: 204, fresh: async () => ({ uuid: (await registerDevice()).uuid }) },
  'POST /api/v1/devices/{uuid}/token': { accepted: 200, fresh: async () => ({ uuid: (await registerDevice()).uuid }) },
  'GET /api/v1/admin-keys': { accepted: 200 },
  'POST /api/v1/admin-keys': { accepted: 201, body: () => ({ name: unique('auth-created-admin') }) },
  'DELETE /api/v1/admin-keys/{keyId}': { accepted: 204, fresh: async () => ({ keyId: await newAdminKey() }) },
  'GET /api/v1/provisioning-keys': { accepted: 200 },
  'POST /api/v1/provisioning-keys': { accepted: 201, body: () => ({ name: unique('auth-created-key') }) },
  'DELETE /api/v1/provisioning-keys/{keyId}': { accepted: 204, fresh: async () => ({ keyId: await newKey() }) },
  'GET /api/v1/notifications': { accepted: 200 },
  'POST /api/v1/notifications': { accepted: 201, body: subscriptionBody },
  'GET /api/v1/notifications/{subscriptionId}': { accepted: 200 },
  'PUT /api/v1/notifications/{subscriptionId}': { accepted: 200, body: subscriptionBody },
  'DELETE /api/v1/notifications/{subscriptionId}': { accepted: 204, fresh: async () => ({ subscriptionId: await newSubscription() }) },
  'POST /api/v1/devices/provision': { accepted: 201, body: registration },
  'GET /api/v1/devices/{uuid}/state': { accepted: 200 },
  'PATCH /api/v1/devices/{uuid}/state': { accepted: 200, body: () => report, fresh: async () => ({ uuid: (await registerDevice()).uuid }) },
  'GET /api/v1/rollouts': { accepted: 200 },
  'GET /api/v1/rollouts/active': { accepted: 200 },
  'GET /api/v1/rollouts/{rolloutId}': { accepted: 200 },
  'GET /api/v1/rollouts/{rolloutId}/devices': { accepted: 200 },
  'GET /api/v1/rollouts/{rolloutId}/events': { accepted: 200 },
  'POST /api/v1/rollouts/{rolloutId}/start': {
    accepted: 200,
    body: () => ({}),
    fresh: () => rolloutIds(plannedRollout),
    // Its first batch would wait for reports and be recounted every few ticks.
    putToRest: (ids) => control(ids.rolloutId!, 'cancel', 'cancelled'),
  },
  'POST /api/v1/rollouts/{rolloutId}/pause': { accepted: 200, body: reason, fresh: () => rolloutIds(startedRollout) },
  'POST /api/v1/rollouts/{rolloutId}/resume': {
    accepted: 200,
    body: () => ({}),
    fresh: async () => {
      const target = await startedRollout();
      await control(target.rolloutId, 'pause', 'paused');
      return { rolloutId: target.rolloutId, uuid: target.device.uuid };
    },
  },
  'POST /api/v1/rollouts/{rolloutId}/approve': { accepted: 200, body: () => ({ comment: 'auth matrix' }), fresh: () => rolloutIds(awaitingApproval) },
  'POST /api/v1/rollouts/{rolloutId}/reject': { accepted: 200, body: () => ({ comment: 'auth matrix' }), fresh: () => rolloutIds(awaitingApproval) },
  'POST /api/v1/rollouts/{rolloutId}/promote': {
    accepted: 200,
    body: reason,
    fresh: () => rolloutIds(startedRollout),
    // Its merged batch starts at once and would wait for reports, recounted every few ticks.
    putToRest: (ids) => control(ids.rolloutId!, 'cancel', 'cancelled'),
  },
  'POST /api/v1/rollouts/{rolloutId}/cancel': { accepted: 200, body: reason, fresh: () => rolloutIds(plannedRollout) },
  'POST /api/v1/rollouts/{rolloutId}/rollback-all': { accepted: 200, body: reason, fresh: () => rolloutIds(startedRollout) },
  'POST /api/v1/rollouts/{rolloutId}/devices/{uuid}/rollback': { accepted: 200, body: reason, fresh: () => rolloutIds(startedRollout) },
  'GET /api/v1/openapi.json': { accepted: 200 },
};

// --- the matrix ------------------------------------------------------------------------------

const routeKey = (route: Route) => `${route.method} ${route.path}`;

interface Case {
  route: Route;
  /** The path as the test names it: the route's, with `{registry}` filled in. */
  label: string;
  registry?: string;
}

/** Every route of every function; a webhook route once per registry, each taking its secret its own way. */
const routes: Case[] = Object.entries(functions).flatMap(([, spec]) =>
  ('routes' in spec ? (spec.routes as readonly Route[]) : []).flatMap((route): Case[] =>
    route.path.includes('{registry}')
      ? Object.keys(webhookRegistries).map((registry) => ({ route, registry, label: `${route.method} ${route.path.replace('{registry}', registry)}` }))
      : [{ route, label: routeKey(route) }],
  ),
);

/** A credential that lives in the body applies to a route that takes one; other registries' secrets, to a webhook route. */
const sendsBody = (route: Route) => requests[routeKey(route)]?.body !== undefined;
const casesOf = (c: Case) =>
  credentials.filter((credential) => {
    if (credential === 'the webhook secret in the body') return sendsBody(c.route);
    // A default registry's own secret is the global one; for it, "another registry's" is a configured one's.
    if (credential === 'the global webhook secret') return c.registry !== undefined && !Object.hasOwn(defaultRegistries, c.registry);
    if (credential === "another registry's secret") return c.registry !== undefined;
    return true;
  });

/** The refused requests of a route share one target; a fresh one would be made the same way. */
const sharedTargets = new Map<string, Promise<Ids>>();

function idsFor(c: Case, accepted: boolean): Promise<Ids> {
  const spec = requests[routeKey(c.route)]!;
  const withRegistry = (ids: Ids): Ids => ({ ...base, ...ids, ...(c.registry ? { registry: c.registry } : {}) });
  if (!spec.fresh) return Promise.resolve(withRegistry({}));
  const make = () => {
    quiet = false;
    return spec.fresh!().then(withRegistry);
  };
  if (accepted) return make();
  if (!sharedTargets.has(c.label)) sharedTargets.set(c.label, make());
  return sharedTargets.get(c.label)!;
}

function fill(path: string, ids: Ids): string {
  return path.replace(/\{(\w+)\}/g, (_, name: string) => {
    const id = ids[name];
    if (id === undefined) throw new Error(`no id for {${name}} in ${path}: give the auth matrix one`);
    return encodeURIComponent(id);
  });
}

/** The request `credential` makes of `c`, valid but for the credential. */
function send(c: Case, credential: Credential, ids: Ids): Promise<ApiResult> {
  const spec = requests[routeKey(c.route)]!;
  const query = new URLSearchParams();
  let body = spec.body?.(ids) as Record<string, unknown> | undefined;
  let token: string | null = null;
  // GitHub names the event in a header of its own, whatever credential comes with it.
  const headers: Record<string, string> = c.registry && webhookRegistries[c.registry] === 'ghcr' ? { 'x-github-event': 'package' } : {};
  const own = tokens.get(ids.uuid ?? '') ?? deviceA.token;
  const webhookSecret = c.registry ? secretOf(c.registry) : host.webhookSecret;
  /** Puts `secret` where `place` says (a signature is of the body as it will be sent). */
  const put = (place: Credential, secret: string) => {
    if (place === 'the webhook secret as a bearer token') token = secret;
    else if (place === 'the webhook secret as ?token=') query.set('token', secret);
    else if (place === 'the webhook secret as ?secret=') query.set('secret', secret);
    else if (place === 'the webhook secret in the body') body = { ...body, token: secret };
    else if (place === 'the webhook secret as X-JFrog-Event-Auth') headers['x-jfrog-event-auth'] = secret;
    else if (place === "the body's HMAC with the webhook secret as X-Hub-Signature-256") {
      headers['x-hub-signature-256'] = `sha256=${createHmac('sha256', secret).update(body === undefined ? '' : JSON.stringify(body)).digest('hex')}`;
    }
  };
  /** Where this registry's kind sends its secret: another registry's secret goes there. */
  const placeSecret = (secret: string) => put(c.registry ? secretPlaceOf[webhookRegistries[c.registry]!] : 'the webhook secret as a bearer token', secret);
  switch (credential) {
    case 'no credential':
      break;
    case 'a wrong bearer token':
      token = `fra_${randomBytes(32).toString('base64url')}`;
      break;
    case 'a forged device token':
      token = `dt_${ids.uuid ?? deviceA.uuid}.${randomBytes(32).toString('base64url')}`;
      break;
    case 'the admin key':
      token = host.adminApiKey;
      break;
    case 'a named admin key':
      token = namedAdminKey;
      break;
    case 'a revoked admin key':
      token = revokedAdminKey;
      break;
    case "the device's own token":
      token = own;
      break;
    case "another device's token":
      token = own === deviceB.token ? deviceA.token : deviceB.token;
      break;
    case 'a provisioning key':
      token = provisioningKey;
      break;
    case 'the webhook secret as a bearer token':
    case 'the webhook secret as ?token=':
    case 'the webhook secret as ?secret=':
    case 'the webhook secret in the body':
    case 'the webhook secret as X-JFrog-Event-Auth':
    case "the body's HMAC with the webhook secret as X-Hub-Signature-256":
      put(credential, webhookSecret);
      break;
    case "another registry's secret":
      // A registry of the same kind: a secret in the very place this route's kind sends its own.
      placeSecret(registrySecrets.get(`auth-other-${webhookRegistries[c.registry!]}`)!);
      break;
    case 'the global webhook secret':
      placeSecret(host.webhookSecret);
      break;
  }
  const search = query.toString() === '' ? '' : `?${query}`;
  // The body is sent as the text that was signed.
  const payload = body === undefined ? {} : { rawBody: JSON.stringify(body) };
  return api(c.route.method, `${fill(c.route.path, ids)}${search}`, { token, headers, ...payload });
}

// --- the table, read as it is ----------------------------------------------------------------

const scanTable = () => tableSnapshot(dynamo, host.tableName);

/** False once something was set going (an accepted request, a target made) that may still be writing. */
let quiet = false;

/** A rollout whose ending's sweep is open will still write (its rows checked, its counters recounted). */
const sweeping = (items: string[]) => items.some((item) => {
  const parsed = JSON.parse(item) as Record<string, AttributeValue>;
  return parsed.sk?.S === 'ROLLOUT' && parsed.sweep !== undefined;
});

/**
 * The table once the system has stopped writing: what an earlier accepted request set going
 * (planning, fan-out, events, an ending's sweep) must be over before a refused request is held
 * to writing nothing.
 */
async function settledTable(): Promise<string[]> {
  let previous = await scanTable();
  if (quiet) return previous;
  // Unchanged for a second: as long as a tick, and longer than a queued message waits for its poller.
  for (let unchanged = 0, i = 0; i < 150; i++) {
    await sleep(200);
    const now = await scanTable();
    unchanged = JSON.stringify(now) === JSON.stringify(previous) ? unchanged + 1 : 0;
    previous = now;
    if (unchanged >= 5 && !sweeping(now)) {
      quiet = true;
      return now;
    }
  }
  throw new Error('the table kept changing for 30 s');
}

// --- set-up ----------------------------------------------------------------------------------

beforeAll(async () => {
  host = await startHost({ port: 0, dataDir: ':memory:', tickSeconds: 1, quiet: true });
  api = apiClient(host.url, host.adminApiKey);
  steps = flow(host);
  dynamo = new DynamoDBClient({ region: 'us-east-1', credentials: { accessKeyId: 'test', secretAccessKey: 'test' }, endpoint: host.endpoints.dynamodb });

  deviceA = await registerDevice();
  deviceB = await registerDevice();
  const key = await api('POST', '/api/v1/provisioning-keys', { body: { name: 'auth matrix' } });
  expect(key.status).toBe(201);
  provisioningKey = key.body.key;
  for (const which of ['kept', 'revoked']) {
    const created = await api('POST', '/api/v1/admin-keys', { body: { name: `auth matrix ${which}` } });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    if (which === 'kept') namedAdminKey = created.body.key;
    else {
      revokedAdminKey = created.body.key;
      expect((await api('DELETE', `/api/v1/admin-keys/${created.body.admin_key.id}`)).status).toBe(204);
    }
  }
  // A configured registry of each kind for the webhook route, and one more of each whose secret
  // is "another registry's".
  for (const [name, kind] of [...Object.entries(configuredRegistries), ...Object.values(configuredRegistries).map((kind) => [`auth-other-${kind}`, kind])]) {
    const created = await api('POST', '/api/v1/registries', { body: { name, kind } });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    registrySecrets.set(name!, created.body.secret);
  }
  await steps.createPolicy({ image_pattern: `${hookRepository}:*`, update_strategy: 'manual' });
  const { rolloutId } = await plannedRollout();
  base = {
    policyId: await newPolicy(),
    uuid: deviceA.uuid,
    app: 'app',
    keyId: key.body.provisioning_key.id,
    rolloutId,
    subscriptionId: await newSubscription(),
    name: await newRegistry(),
    ...(await dashboardFile()),
  };
}, 120_000);

afterAll(async () => {
  dynamo?.destroy();
  await host?.stop();
});

// --- the cases -------------------------------------------------------------------------------

describe('the manifest', () => {
  it('gives the matrix every route, each with a known auth rule and a valid request to send', () => {
    expect(routes.length).toBeGreaterThan(20);
    expect(routeAuthProblems(functions)).toEqual([]);
    expect(routes.map((c) => routeKey(c.route)).filter((key) => !requests[key])).toEqual([]);
    // A request kept here for a route the manifest no longer has would be dead weight.
    expect(Object.keys(requests).filter((key) => !routes.some((c) => routeKey(c.route) === key))).toEqual([]);
    expect(Object.keys(secretPlaceOf).sort()).toEqual(Object.keys(registries).sort());
    expect(routes.filter((c) => c.registry !== undefined).map((c) => c.registry)).toEqual(expect.arrayContaining([...Object.keys(defaultRegistries), ...Object.keys(configuredRegistries)]));
  });
});

describe.each(routes)('$label', (c) => {
  const cases = casesOf(c).map((credential): [string, number, Credential] => {
    const spec = requests[routeKey(c.route)];
    const status = spec ? expectedStatus(c.route.auth, credential, spec.accepted, c.registry) : NaN;
    return [nameOf(credential, c.route), status, credential];
  });

  it.each(cases)(`${c.label} with %s → %i`, async (_name, status, credential) => {
    expect(requests[routeKey(c.route)], `the auth matrix has no request for ${routeKey(c.route)}`).toBeDefined();
    const accepted = status < 400;
    const ids = await idsFor(c, accepted);
    if (accepted) {
      // A read sets nothing going; a write may have queued work that is still to write.
      if (c.route.method !== 'GET') quiet = false;
      const result = await send(c, credential, ids);
      expect(result.status, JSON.stringify(result.body)).toBe(status);
      expect(result.body?.error).toBeUndefined();
      await requests[routeKey(c.route)]!.putToRest?.(ids);
      return;
    }
    const before = await settledTable();
    const result = await send(c, credential, ids);
    expectError(result, status);
    if (status === 401) expect(result.headers.get('www-authenticate')).toBe('Bearer');
    expect(result.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await scanTable(), 'the table after a refused request').toEqual(before);
  }, 90_000);
});
