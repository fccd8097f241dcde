/**
 * Every route the manifest declares, fuzzed through real HTTP on one embedded host (issue 9):
 * credentials of every kind, hostile path parameters, query strings and headers, malformed and
 * mutated bodies. Whatever arrives, the answer arrives (no reset, no hang-up), is never a 5xx,
 * every 4xx is the JSON error `{error: {code, message}}`, and a rejected request writes nothing:
 * the table is scanned before and after each one.
 *
 * Requests go one at a time, and after one that succeeded the host is left to finish what it
 * started (queues drained, rollouts it set moving cancelled), so that nothing else writes while
 * a rejected request is being compared. The routes are read from the manifest, so a new route is
 * fuzzed without touching this file; a route with no valid body listed below is sent `{}` as its
 * valid body.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { functions } from '../../infra/manifest';
import { startHost, type Host } from '../../infra/embedded/host';
import { apiClient, waitFor } from '../support/api';
import { encodeComponent, hostileSegments, mutate, otherMethods, requestPlan, tamperCursor, type ParamChoice, type RequestPlan } from './arbitraries';
import { hostState } from './host-state';
import { rawClient, type RawRequest, type RawResult } from './raw-http';
import { fuzzParameters, fuzzRuns, timeoutFor } from './runs';

interface DeclaredRoute {
  method: string;
  path: string;
}

const routes: DeclaredRoute[] = Object.values(functions).flatMap((spec) =>
  ('routes' in spec ? (spec.routes as readonly DeclaredRoute[]) : []).map(({ method, path }) => ({ method, path })),
);

/** Runs over all routes together; each route gets its share. */
const totalRuns = fuzzRuns(700);
const runsPerRoute = Math.max(1, Math.ceil(totalRuns / routes.length));

const paramNames = (path: string) => [...path.matchAll(/\{(\w+)\}/g)].map((match) => match[1]!);

const pushedAt = Math.floor(Date.UTC(2026, 0, 1) / 1000);

/** A valid body of each route that takes one, which the fuzzer mutates one change at a time. */
const validBodies: Record<string, unknown[]> = {
  'POST /api/v1/webhooks/{registry}': [
    { push_data: { tag: 'v9', pushed_at: pushedAt, pusher: 'fuzz' }, repository: { repo_name: 'fuzz/app', namespace: 'fuzz', name: 'app' }, callback_url: 'https://registry.hub.docker.com/u/fuzz/app/hook/x/' },
    {
      events: [
        {
          id: 'evt-fuzz-1',
          timestamp: '2026-01-01T00:00:00.000Z',
          action: 'push',
          target: {
            mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
            repository: 'fuzz/app',
            tag: 'v8',
            digest: `sha256:${'a'.repeat(64)}`,
            url: 'http://registry.example.com:5000/v2/fuzz/app/manifests/v8',
          },
          request: { host: 'registry.example.com:5000' },
        },
      ],
    },
  ],
  'POST /api/v1/policies': policyBodies(),
  'PUT /api/v1/policies/{policyId}': policyBodies(),
  'POST /api/v1/devices': deviceBodies(),
  'POST /api/v1/devices/provision': deviceBodies(),
  'PUT /api/v1/devices/{uuid}/apps/{app}': [
    { container: { command: ['serve', '--port', '8080'], env: { MODE: 'fuzz' }, network_mode: 'bridge', ports: ['127.0.0.1:8080:80/tcp'], volumes: ['data:/data:ro'], restart_policy: 'on-failure' } },
    { container: null },
  ],
  'PATCH /api/v1/devices/{uuid}': [{ name: 'fuzz renamed', ip_address: '127.0.0.6', labels: { ring: 'canary', site: null } }, { labels: { 'app.example.com/tier': '' } }],
  'PATCH /api/v1/devices/{uuid}/state': [
    { apps: [{ name: 'app', image: 'fuzz/app:v1', status: 'running', digest: `sha256:${'b'.repeat(64)}` }], error: null, target_version: 1, labels: { ring: 'canary' } },
    { apps: [{ name: 'app', image: 'fuzz/app:v1', status: 'error' }], error: 'pull failed' },
  ],
  'POST /api/v1/provisioning-keys': [{ name: 'fuzz key', expires_at: '2099-01-01T00:00:00Z', max_uses: 1_000 }, {}],
  'POST /api/v1/admin-keys': [{ name: 'fuzz admin' }, { name: 'fuzz@example.com' }],
  'POST /api/v1/notifications': subscriptionBodies(),
  'POST /api/v1/registries': [
    { name: 'fuzz-made', kind: 'distribution', host: 'registry.example.com:5000', host_aliases: { 'localhost:5000': 'registry.lan:5000' }, rate_limit_per_minute: 600 },
    { name: 'fuzz-made-hub', kind: 'docker-hub', secret: 'fuzz-secret-0123456789abcdef' },
    { name: 'fuzz-made-ecr', kind: 'ecr', host: '123456789012.dkr.ecr.eu-west-1.amazonaws.com' },
  ],
  'PATCH /api/v1/registries/{name}': [{ host_aliases: { 'localhost:5000': 'registry.lan:5000' }, rate_limit_per_minute: 600 }, { rotate_secret: true }, { host: null, secret: 'fuzz-secret-fedcba9876543210' }],
  'PUT /api/v1/notifications/{subscriptionId}': subscriptionBodies(),
};

function subscriptionBodies(): unknown[] {
  // A receiver that is never there (TEST-NET-3), for a type no fuzzed request makes happen: a
  // delivery's outcome written in the background would look like a write by a refused request.
  return [
    { url: 'http://203.0.113.9:9/fuzz', event_types: ['image.rollout_failed'], format: 'json', secret: 'fuzz-secret-0123456789' },
    { url: 'https://203.0.113.9/fuzz', event_types: ['image.rollout_failed', 'image.rollout_failed'], format: 'slack' },
  ];
}
for (const action of ['pause', 'cancel', 'rollback-all', 'start', 'resume']) validBodies[`POST /api/v1/rollouts/{rolloutId}/${action}`] = [{ reason: 'fuzz' }, {}];
validBodies['POST /api/v1/rollouts/{rolloutId}/devices/{uuid}/rollback'] = [{ reason: 'fuzz' }, {}];

function policyBodies(): unknown[] {
  return [
    {
      name: 'fuzz policy',
      enabled: true,
      priority: 0,
      image_pattern: 'fuzz/app:*',
      update_strategy: 'manual',
      staged_batches: 2,
      batch_delay_minutes: 1,
      update_timeout_minutes: 10,
      health_check_enabled: true,
      health_check_config: { type: 'http', endpoint: 'http://{device_ip}:8080/health', expectedStatusCode: 200, expectedBody: 'ok', timeout: 5, retries: 1 },
      auto_rollback_enabled: true,
      max_failure_rate: 0.5,
      device_selector: { site: 'berlin' },
      batch_order: [{ ring: 'canary' }, { ring: 'beta', hw: 'pi4' }],
    },
    {
      image_pattern: 'fuzz/other:v?.*',
      update_strategy: 'staged',
      batch_percentages: [10, 50, 100],
      health_check_enabled: true,
      health_check_config: { type: 'tcp', host: '{device_ip}', port: 8080 },
    },
  ];
}

function deviceBodies(): unknown[] {
  return [
    {
      name: 'fuzz device',
      ip_address: '127.0.0.5',
      apps: [
        { name: 'app', image: 'fuzz/app:v1', container: { command: ['serve'], env: { MODE: 'fuzz' }, network_mode: 'host', ports: ['8080:80'], volumes: ['/srv/data:/data'], restart_policy: 'always' } },
        { name: 'web', image: 'registry.example.com:5000/fuzz/web@sha256:' + 'c'.repeat(64) },
      ],
    },
    { uuid: 'fuzz-fixed-uuid', name: 'fuzz device', apps: [{ name: 'app', image: 'fuzz/app:v1' }], labels: { ring: 'canary', 'example.com/site': 'berlin' } },
  ];
}

/** Ids that name nothing, shaped like the real ones or not. */
const unknownIds = [
  'pol_01jz0000000000000000000000',
  'ro-01jz0000000000000000000000',
  'pvk_01jz0000000000000000000000',
  'ak_01jz0000000000000000000000',
  'host',
  'bootstrap',
  '00000000-0000-4000-8000-000000000000',
  'nope',
  'quay',
  'DOCKER-REGISTRY',
  'app2',
];

let host: Host;
let admin: ReturnType<typeof apiClient>;
let client: ReturnType<typeof rawClient>;
let state: ReturnType<typeof hostState>;

/** What the host holds that a request can name, grown from what successful requests created. */
const known = {
  params: new Map<string, string[]>([
    ['registry', ['docker-registry', 'distribution']],
    ['name', ['docker-registry']],
    ['app', ['app', 'web']],
  ]),
  /** Device uuid → its token. */
  tokens: new Map<string, string>(),
  provisioningKeys: [] as string[],
  /** Cursors that listings really handed out. */
  cursors: [] as string[],
  /** Configured registry → its secret, as its create or last rotation answered it. */
  registrySecrets: new Map<string, string>(),
};

const remember = (param: string, value: string) => {
  const values = known.params.get(param) ?? [];
  if (!values.includes(value) && values.length < 50) values.push(value);
  known.params.set(param, values);
};

function rememberDevice(uuid: string, token: string) {
  remember('uuid', uuid);
  known.tokens.set(uuid, token);
}

/** Ids, tokens and keys a successful answer hands out, for later requests to use. */
function learnFrom(body: any): void {
  if (body === null || typeof body !== 'object') return;
  if (typeof body.policy?.id === 'string') remember('policyId', body.policy.id);
  if (typeof body.device?.uuid === 'string' && typeof body.device_token === 'string') rememberDevice(body.device.uuid, body.device_token);
  if (typeof body.provisioning_key?.id === 'string') remember('keyId', body.provisioning_key.id);
  if (typeof body.admin_key?.id === 'string') remember('keyId', body.admin_key.id);
  // A rotated token replaces the device's old one, which is refused from now on.
  if (typeof body.device_uuid === 'string' && typeof body.token === 'string' && known.tokens.has(body.device_uuid)) known.tokens.set(body.device_uuid, body.token);
  if (typeof body.subscription?.id === 'string') remember('subscriptionId', body.subscription.id);
  for (const registry of [body.registry, ...(Array.isArray(body.registries) ? body.registries : [])]) {
    if (typeof registry?.name !== 'string') continue;
    remember('name', registry.name);
    if (registry.webhook_url) remember('registry', registry.name);
    if (typeof body.secret === 'string' && body.registry === registry) known.registrySecrets.set(registry.name, body.secret);
  }
  // A named admin key's answer has a `key` too; only a provisioning key's is one.
  if (typeof body.key === 'string' && body.provisioning_key && known.provisioningKeys.length < 20) known.provisioningKeys.push(body.key);
  for (const rollout of Array.isArray(body.rollouts) ? body.rollouts : []) if (typeof rollout?.id === 'string') remember('rolloutId', rollout.id);
  if (typeof body.next_cursor === 'string' && known.cursors.length < 50 && !known.cursors.includes(body.next_cursor)) known.cursors.push(body.next_cursor);
}

const pick = <T>(values: readonly T[], at: number): T | undefined => (values.length === 0 ? undefined : values[at % values.length]);

function segmentFor(name: string, choice: ParamChoice): string {
  if (choice.kind === 'hostile') return choice.segment;
  const value = choice.kind === 'known' ? pick(known.params.get(name) ?? [], choice.pick) : undefined;
  return encodeComponent(value ?? pick(unknownIds, choice.pick)!);
}

/** The request a plan stands for, with this host's ids, tokens and cursors filled in. */
function resolve(route: DeclaredRoute, plan: RequestPlan): RawRequest {
  const names = paramNames(route.path);
  const segments = new Map(names.map((name, i) => [name, segmentFor(name, plan.params[i]!)]));
  const path = route.path.replace(/\{(\w+)\}/g, (_, name: string) => segments.get(name)!);
  const uuid = decodeURIComponentSafe(segments.get('uuid'));
  // A webhook carries the secret of the registry it names: a configured one's own, else the global one.
  const webhookSecret = known.registrySecrets.get(decodeURIComponentSafe(segments.get('registry')) ?? '') ?? host.webhookSecret;

  const headers: [string, string][] = [];
  const query: string[] = [];
  const bearer = (token: string | undefined) => token !== undefined && headers.push(['authorization', `Bearer ${token}`]);
  const devices = [...known.tokens.keys()];
  switch (plan.credential) {
    case 'none':
      break;
    case 'garbage':
      headers.push(['authorization', plan.garbage.length % 3 === 0 ? plan.garbage : `Bearer ${plan.garbage}`]);
      break;
    case 'admin':
      bearer(host.adminApiKey);
      break;
    case 'device':
      bearer(known.tokens.get(uuid ?? '') ?? known.tokens.get(devices[0]!));
      break;
    case 'other-device':
      bearer(known.tokens.get(devices.find((other) => other !== uuid) ?? devices[0]!));
      break;
    case 'webhook-query':
      query.push(`token=${encodeURIComponent(webhookSecret)}`);
      break;
    case 'webhook-header':
      bearer(webhookSecret);
      break;
    case 'provisioning':
      bearer(pick(known.provisioningKeys, plan.garbage.length));
      break;
    case 'admin-in-query':
      query.push(`token=${encodeURIComponent(host.adminApiKey)}`);
      break;
  }
  for (const [key, value] of plan.query) {
    const text = value.kind === 'text' ? value.value : tamperCursor(pick(known.cursors, value.pick) ?? '', value.tamper);
    query.push(`${encodeComponent(key)}=${encodeComponent(text)}`);
  }
  if (plan.contentType !== undefined) headers.push(['content-type', plan.contentType]);
  headers.push(...plan.headers);

  let body: string | undefined;
  const { body: choice } = plan;
  if (choice.kind === 'valid') {
    const templates = validBodies[`${route.method} ${route.path}`] ?? [{}];
    body = mutate(templates[choice.template % templates.length], choice.mutation);
  } else if (choice.kind === 'json') body = mutate(choice.value, { op: 'keep' });
  else if (choice.kind === 'text') body = choice.text;

  return fitHead({ method: plan.method ?? route.method, target: query.length > 0 ? `${path}?${query.join('&')}` : path, headers, ...(body !== undefined ? { body } : {}) });
}

/**
 * A request head (request line and headers) over Node's 16 KB is refused by the parser, before any
 * route is matched: the gateway answers it with a JSON 431 (test/integration/host.test.ts), and
 * API Gateway has limits of its own there. So long queries and headers are cut to fit, longest
 * first, and what is fuzzed is the routes' answers.
 */
function fitHead(raw: RawRequest): RawRequest {
  const limit = 14_000;
  const size = (r: RawRequest) => r.target.length + r.headers.reduce((sum, [name, value]) => sum + name.length + value.length + 4, 0);
  let fitted = raw;
  while (size(fitted) > limit) {
    const longest = fitted.headers.reduce((best, header, i) => (header[1].length > (fitted.headers[best]?.[1].length ?? -1) ? i : best), -1);
    const queryStart = fitted.target.indexOf('?');
    const queryLength = queryStart === -1 ? 0 : fitted.target.length - queryStart;
    const headerLength = longest === -1 ? 0 : fitted.headers[longest]![1].length;
    if (queryLength >= headerLength && queryLength > 0) {
      fitted = { ...fitted, target: fitted.target.slice(0, queryStart + Math.floor(queryLength / 2)).replace(/%[0-9A-Fa-f]?$/, '') };
    } else if (headerLength > 0) {
      fitted = { ...fitted, headers: fitted.headers.map((header, i) => (i === longest ? [header[0], header[1].slice(0, Math.floor(headerLength / 2))] : header)) };
    } else {
      // Only the path is left: two path parameters of 10,000 characters each.
      fitted = { ...fitted, target: fitted.target.slice(0, limit) };
    }
  }
  return fitted;
}

function decodeURIComponentSafe(segment: string | undefined): string | undefined {
  if (segment === undefined) return undefined;
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

const excerpt = (text: string, length = 300) => (text.length > length ? `${text.slice(0, length)}… (${text.length} chars)` : text);

function describeRequest(raw: RawRequest): string {
  const headers = raw.headers.map(([name, value]) => `${name}: ${excerpt(value, 80)}`).join(' | ');
  return `${raw.method} ${excerpt(raw.target, 400)} [${headers}] body=${raw.body === undefined ? '(none)' : excerpt(JSON.stringify(raw.body))}`;
}

/** What is wrong with the answer, or undefined when it keeps every promise. */
function problemWith(raw: RawRequest, result: RawResult): string | undefined {
  if (result.kind === 'dropped') return `the connection was dropped: ${result.error}`;
  const { status, body, headers } = result;
  if (status >= 500) return `answered ${status}: ${excerpt(body)}`;
  if (status < 400 || raw.method === 'HEAD') return undefined;
  if (!String(headers['content-type'] ?? '').includes('json')) return `a ${status} with content-type ${headers['content-type']}: ${excerpt(body)}`;
  let parsed: any;
  try {
    parsed = JSON.parse(body);
  } catch {
    return `a ${status} whose body is not JSON: ${excerpt(body)}`;
  }
  const error = parsed?.error;
  if (typeof error?.code !== 'string' || error.code === '' || typeof error?.message !== 'string' || error.message.trim() === '') {
    return `a ${status} without {error: {code, message}}: ${excerpt(body)}`;
  }
  return undefined;
}

/** Cancels what a successful request set moving, and waits until the host is done writing. */
async function settle(): Promise<void> {
  await state.drained();
  const active = await admin('GET', '/api/v1/rollouts/active?limit=200');
  let cancelled = 0;
  for (const rollout of active.body?.rollouts ?? []) {
    // A planned pending rollout waits for an admin and writes nothing meanwhile; one that moves would.
    if (rollout.status === 'pending') continue;
    await admin('POST', `/api/v1/rollouts/${rollout.id}/cancel`, { body: { reason: 'fuzz: settling' } });
    cancelled++;
  }
  if (cancelled > 0) await state.drained();
}

let before: Awaited<ReturnType<ReturnType<typeof hostState>['snapshot']>>;
const tally = { requests: 0, byStatus: new Map<number, number>() };

const readOnly = new Set(['GET', 'HEAD', 'OPTIONS']);

async function sendAndCheck(route: DeclaredRoute, plan: RequestPlan): Promise<void> {
  const raw = resolve(route, plan);
  let rejected = false;
  try {
    const result = await client.send(raw);
    tally.requests++;
    if (result.kind === 'response') tally.byStatus.set(result.status, (tally.byStatus.get(result.status) ?? 0) + 1);
    const problem = problemWith(raw, result);
    if (problem) throw new Error(`${problem}\n  request: ${describeRequest(raw)}`);
    if (result.kind !== 'response') return;
    if (result.status >= 400) {
      rejected = true;
      const after = await state.snapshot();
      const written = state.diff(before, after);
      if (written) {
        rejected = false;
        const changes = [...written.added.map((key) => `added ${key}`), ...written.removed.map((key) => `removed ${key}`), ...written.changed.map((c) => `changed ${c.key}: ${excerpt(c.before, 200)} → ${excerpt(c.after, 200)}`)];
        throw new Error(`a ${result.status} wrote to the table: ${changes.join('; ')}\n  answer: ${excerpt(result.body)}\n  request: ${describeRequest(raw)}`);
      }
      before = after;
      return;
    }
    try {
      learnFrom(JSON.parse(result.body));
    } catch {
      // 204 and 304 have no body
    }
  } finally {
    // After a success, or a failure of any kind, the next comparison starts from a settled table.
    // A read starts no work in the background, though it may have written (a device's last poll).
    if (!rejected) {
      if (!readOnly.has(raw.method)) await settle();
      before = await state.snapshot();
    }
  }
}

beforeAll(async () => {
  host = await startHost({ port: 0, dataDir: ':memory:', tickSeconds: 1, quiet: true });
  admin = apiClient(host.url, host.adminApiKey);
  client = rawClient(host.url);
  state = hostState(host);

  // Two of everything, so that every listing has a second page (and a real cursor) at limit=1.
  for (const body of [
    { image_pattern: 'fuzz/app:*', update_strategy: 'manual' },
    { image_pattern: 'fuzz/**', update_strategy: 'manual', priority: -1 },
  ]) {
    const created = await admin('POST', '/api/v1/policies', { body });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    learnFrom(created.body);
  }
  for (const name of ['fuzz-a', 'fuzz-b']) {
    const created = await admin('POST', '/api/v1/devices', { body: { name, ip_address: '127.0.0.9', apps: [{ name: 'app', image: 'fuzz/app:v1' }, { name: 'web', image: 'fuzz/web:v1' }] } });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    learnFrom(created.body);
  }
  for (const name of ['fuzz-key-a', 'fuzz-key-b']) {
    const created = await admin('POST', '/api/v1/provisioning-keys', { body: { name } });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    learnFrom(created.body);
  }
  for (const name of ['fuzz-admin-a', 'fuzz-admin-b']) {
    const created = await admin('POST', '/api/v1/admin-keys', { body: { name } });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    learnFrom(created.body);
  }
  // Two registries of each webhook kind with their own secrets, so that webhooks are fuzzed with those too.
  for (const [name, kind] of [['fuzz-hub', 'docker-hub'], ['fuzz-hub-2', 'docker-hub'], ['fuzz-dist', 'distribution'], ['fuzz-dist-2', 'distribution']]) {
    const created = await admin('POST', '/api/v1/registries', { body: { name, kind } });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    learnFrom(created.body);
  }
  for (const body of subscriptionBodies()) {
    const created = await admin('POST', '/api/v1/notifications', { body });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    learnFrom(created.body);
  }
  for (const tag of ['v2', 'v3']) {
    const pushed = await admin('POST', `/api/v1/webhooks/docker-registry?token=${encodeURIComponent(host.webhookSecret)}`, {
      token: null,
      body: { push_data: { tag, pushed_at: pushedAt, pusher: 'fuzz' }, repository: { repo_name: 'fuzz/app' } },
    });
    expect(pushed.status, JSON.stringify(pushed.body)).toBe(202);
    learnFrom(pushed.body);
  }
  for (const id of known.params.get('rolloutId') ?? []) {
    await waitFor(async () => ((await admin('GET', `/api/v1/rollouts/${id}`)).body.rollout?.planned ? true : undefined), 30_000, `planning of ${id}`);
  }
  // Real cursors of every listing the manifest declares, read with the ids above.
  for (const route of routes.filter((r) => r.method === 'GET')) {
    const path = route.path.replace(/\{(\w+)\}/g, (_, name: string) => encodeURIComponent(known.params.get(name)?.[0] ?? 'none'));
    const page = await admin('GET', `${path}?limit=1`);
    if (page.status === 200) learnFrom(page.body);
  }
  expect(known.cursors.length, 'listings hand out cursors to tamper with').toBeGreaterThan(2);
  await settle();
  before = await state.snapshot();
}, 120_000);

afterAll(async () => {
  client?.close();
  state?.close();
  await host?.stop();
  const statuses = [...tally.byStatus].sort(([a], [b]) => a - b).map(([status, count]) => `${status}×${count}`).join(' ');
  console.log(`route fuzz: ${tally.requests} requests over ${routes.length} routes; ${statuses}`);
});

describe('every route of the manifest, fuzzed', () => {
  it('declares routes to fuzz', () => {
    expect(routes.length).toBeGreaterThan(10);
  });

  it(
    'paths no route declares, with any method: a JSON 404 (or the answer of the route they turn out to be)',
    async () => {
      const segment = fc.oneof(fc.constantFrom('api', 'v1', 'devices', 'rollouts', 'policies', 'webhooks', 'state', ''), fc.constantFrom(...hostileSegments), fc.string({ maxLength: 12 }).map(encodeComponent));
      const path = fc.array(segment, { minLength: 1, maxLength: 6 }).map((segments) => `/${segments.join('/')}`.replace(/[{}]/g, ''));
      await fc.assert(
        fc.asyncProperty(fc.constantFrom(...otherMethods), path, requestPlan(0), (method, anyPath, plan) => sendAndCheck({ method, path: anyPath }, plan)),
        fuzzParameters(runsPerRoute),
      );
    },
    timeoutFor(runsPerRoute, 1_500),
  );

  for (const route of routes) {
    it(
      `${route.method} ${route.path}: never a 5xx or a dropped connection; every 4xx a JSON error that wrote nothing`,
      async () => {
        await fc.assert(
          fc.asyncProperty(requestPlan(paramNames(route.path).length), (plan) => sendAndCheck(route, plan)),
          fuzzParameters(runsPerRoute),
        );
      },
      timeoutFor(runsPerRoute, 1_500),
    );
  }
});
