/**
 * Every operation of the OpenAPI document, called through real HTTP on the embedded host and
 * answered as the document says: apiClient holds each answer to its operation's declared statuses
 * and schemas (test/support/openapi-contract.ts), and this test asserts that each operation's
 * success statuses were among the answers checked, so no part of the document goes untried.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHost, type Host } from '../../infra/embedded/host';
import { apiClient, waitFor, type ApiResult } from '../support/api';
import { flow } from '../support/flow';
import { checkedAnswers } from '../support/openapi-contract';

let host: Host;
let api: ReturnType<typeof apiClient>;
let steps: ReturnType<typeof flow>;

beforeAll(async () => {
  host = await startHost({ port: 0, dataDir: ':memory:', tickSeconds: 1, quiet: true });
  api = apiClient(host.url, host.adminApiKey);
  steps = flow(host);
}, 60_000);

afterAll(async () => {
  await host?.stop();
});

/**
 * Answers that depend on timing, not on the request: a start while the rollout is still being
 * planned (202) needs planning slower than the request, which a small fleet never is.
 */
const racy = new Set(['POST /api/v1/rollouts/{rolloutId}/start 202']);

async function expectStatus(result: Promise<ApiResult>, status: number): Promise<any> {
  const { status: got, body } = await result;
  expect(got, JSON.stringify(body)).toBe(status);
  return body;
}

describe('the OpenAPI document', () => {
  it('holds every answer, and each success status of every operation is answered', async () => {
    const served = await api('GET', '/api/v1/openapi.json', { token: null });
    expect(served.status).toBe(200);
    expect(served.headers.get('cache-control')).toMatch(/max-age=\d+/);
    const document = served.body;
    await expectStatus(api('GET', '/api/v1/openapi.json', { token: null, headers: { 'if-none-match': served.headers.get('etag')! } }), 304);

    // Policies; the one kept steers the rollout below.
    const repository = `iotistic/contract-${randomBytes(3).toString('hex')}`;
    const policyBody = { image_pattern: `${repository}:*`, update_strategy: 'manual', batch_percentages: [50, 100], batch_delay_minutes: 30 };
    const { policy } = await expectStatus(api('POST', '/api/v1/policies', { body: policyBody }), 201);
    await expectStatus(api('GET', '/api/v1/policies?limit=1'), 200);
    await expectStatus(api('GET', `/api/v1/policies/${policy.id}`), 200);
    await expectStatus(api('PUT', `/api/v1/policies/${policy.id}`, { body: { ...policyBody, name: 'contract' } }), 200);
    const scratch = await expectStatus(api('POST', '/api/v1/policies', { body: { image_pattern: 'iotistic/scratch:*' } }), 201);
    await expectStatus(api('DELETE', `/api/v1/policies/${scratch.policy.id}`), 204);

    // Devices, registered by the admin and with a provisioning key.
    const devices: { uuid: string; token: string }[] = [];
    for (const name of ['contract-a', 'contract-b']) {
      const registered = await expectStatus(api('POST', '/api/v1/devices', { body: { name, ip_address: '127.0.0.1', apps: [{ name: 'app', image: `${repository}:v1` }] } }), 201);
      devices.push({ uuid: registered.device.uuid as string, token: registered.device_token as string });
    }
    await expectStatus(api('GET', '/api/v1/devices'), 200);
    await expectStatus(api('GET', `/api/v1/devices/${devices[0]!.uuid}`), 200);
    await expectStatus(api('PATCH', `/api/v1/devices/${devices[0]!.uuid}`, { body: { labels: { ring: 'canary' } } }), 200);
    await expectStatus(api('PUT', `/api/v1/devices/${devices[0]!.uuid}/apps/app`, { body: { container: { restart_policy: 'always', env: { MODE: 'contract' } } } }), 200);
    const created = await expectStatus(api('POST', '/api/v1/provisioning-keys', { body: { name: 'contract', max_uses: 5 } }), 201);
    await expectStatus(api('GET', '/api/v1/provisioning-keys'), 200);
    await expectStatus(api('POST', '/api/v1/devices/provision', { token: created.key, body: { name: 'contract-provisioned', apps: [{ name: 'app', image: 'iotistic/elsewhere:v1' }] } }), 201);
    await expectStatus(api('DELETE', `/api/v1/provisioning-keys/${created.provisioning_key.id}`), 204);
    // A device deleted, and one whose token is rotated (its new token is the one it polls with below).
    const doomed = await expectStatus(api('POST', '/api/v1/devices', { body: { name: 'contract-doomed', apps: [{ name: 'app', image: 'iotistic/elsewhere:v1' }] } }), 201);
    await expectStatus(api('DELETE', `/api/v1/devices/${doomed.device.uuid}`), 204);
    const rotated = await expectStatus(api('POST', `/api/v1/devices/${devices[1]!.uuid}/token`), 200);
    devices[1]!.token = rotated.token;

    // Named admin keys.
    const adminKey = await expectStatus(api('POST', '/api/v1/admin-keys', { body: { name: 'contract' } }), 201);
    await expectStatus(api('GET', '/api/v1/admin-keys?limit=1', { token: adminKey.key }), 200);
    await expectStatus(api('DELETE', `/api/v1/admin-keys/${adminKey.admin_key.id}`), 204);

    // The device protocol.
    const polled = await api('GET', `/api/v1/devices/${devices[1]!.uuid}/state`, { token: devices[1]!.token });
    expect(polled.status).toBe(200);
    await expectStatus(api('GET', `/api/v1/devices/${devices[1]!.uuid}/state`, { token: devices[1]!.token, headers: { 'if-none-match': polled.headers.get('etag')! } }), 304);
    const running = (image: string, version?: number) => ({ apps: [{ name: 'app', image, status: 'running' }], ...(version ? { target_version: version } : {}) });
    for (const device of devices) await expectStatus(api('PATCH', `/api/v1/devices/${device.uuid}/state`, { token: device.token, body: running(`${repository}:v1`) }), 200);

    // Notification subscriptions, to a receiver that is never there and an event nothing here makes.
    const hook = { url: 'https://203.0.113.9/contract', event_types: ['image.rollout_failed'] };
    const subscribed = await expectStatus(api('POST', '/api/v1/notifications', { body: hook }), 201);
    const subscriptionPath = `/api/v1/notifications/${subscribed.subscription.id}`;
    await expectStatus(api('GET', '/api/v1/notifications'), 200);
    await expectStatus(api('GET', subscriptionPath), 200);
    await expectStatus(api('PUT', subscriptionPath, { body: { ...hook, format: 'slack' } }), 200);
    await expectStatus(api('DELETE', subscriptionPath), 204);

    // Registries: one configured (its push a rollout of nothing the rest steers), read, changed, deleted.
    const registry = await expectStatus(api('POST', '/api/v1/registries', { body: { name: 'contract', kind: 'distribution', host_aliases: { 'localhost:5000': 'registry.lan:5000' } } }), 201);
    await expectStatus(api('GET', '/api/v1/registries'), 200);
    await expectStatus(api('GET', '/api/v1/registries/contract'), 200);
    const rotatedRegistry = await expectStatus(api('PATCH', '/api/v1/registries/contract', { body: { rotate_secret: true, rate_limit_per_minute: 60 } }), 200);
    expect(rotatedRegistry.secret).not.toBe(registry.secret);
    const configuredPush = { events: [{ id: randomUUID(), action: 'push', target: { mediaType: 'application/vnd.oci.image.manifest.v1+json', repository: 'iotistic/unpoliced', tag: 'v1' }, request: { host: 'localhost:5000' } }] };
    await expectStatus(api('POST', '/api/v1/webhooks/contract', { token: rotatedRegistry.secret, body: configuredPush }), 202);
    await expectStatus(api('DELETE', '/api/v1/registries/contract'), 204);

    // Both registries' webhooks; Docker Hub's push is the rollout the rest steers.
    const pushed = await expectStatus(steps.push(repository, 'v2'), 202);
    const distribution = { events: [{ id: randomUUID(), timestamp: new Date().toISOString(), action: 'push', target: { mediaType: 'application/vnd.docker.distribution.manifest.v2+json', repository: 'iotistic/unpoliced', tag: 'v1', digest: `sha256:${randomBytes(32).toString('hex')}` } }] };
    await expectStatus(api('POST', '/api/v1/webhooks/distribution', { token: host.webhookSecret, body: distribution }), 202);
    const rolloutId: string = pushed.rollouts[0].id;
    const rolloutPath = `/api/v1/rollouts/${rolloutId}`;
    await steps.waitForRollout(rolloutId, (d) => d.rollout.planned === true, 'planned');

    await expectStatus(api('GET', `/api/v1/rollouts?status=pending&image_name=${encodeURIComponent(repository)}`), 200);
    await expectStatus(api('GET', '/api/v1/rollouts/active'), 200);
    await expectStatus(api('GET', `${rolloutPath}/devices?limit=1`), 200);
    await expectStatus(api('GET', `${rolloutPath}/events`), 200);

    // Started, its first batch's device takes the new image; then every command but cancel.
    await expectStatus(api('POST', `${rolloutPath}/start`), 200);
    const updated = await waitFor(async () => {
      for (const device of devices) {
        const state = await api('GET', `/api/v1/devices/${device.uuid}/state`, { token: device.token });
        if (state.body.apps[0].image.endsWith(':v2')) return { device, state: state.body };
      }
      return undefined;
    }, 30_000, 'a device of the first batch to get the new target');
    await expectStatus(api('PATCH', `/api/v1/devices/${updated.device.uuid}/state`, { token: updated.device.token, body: running(updated.state.apps[0].image, updated.state.version) }), 200);
    await steps.waitForRollout(rolloutId, (d) => d.rollout.batches[0]?.status === 'completed', 'first batch completed');
    await expectStatus(api('POST', `${rolloutPath}/pause`, { body: { reason: 'contract' } }), 200);
    await expectStatus(api('POST', `${rolloutPath}/resume`), 200);
    await expectStatus(api('POST', `${rolloutPath}/promote`, { body: { reason: 'contract' } }), 200);
    await expectStatus(api('POST', `${rolloutPath}/devices/${updated.device.uuid}/rollback`, { body: {} }), 200);
    await expectStatus(api('POST', `${rolloutPath}/rollback-all`, { body: { reason: 'contract' } }), 200);

    // Rollouts waiting for an approval: one approved, one rejected.
    const approvals = `${repository}-approvals`;
    await expectStatus(api('POST', '/api/v1/devices', { body: { name: 'contract-approvals', apps: [{ name: 'app', image: `${approvals}:v1` }] } }), 201);
    await expectStatus(api('POST', '/api/v1/policies', { body: { image_pattern: `${approvals}:*`, update_strategy: 'manual', approvals_required: 1 } }), 201);
    for (const [tag, command] of [['v2', 'approve'], ['v3', 'reject']] as const) {
      const pushed = await expectStatus(steps.push(approvals, tag), 202);
      await steps.waitForRollout(pushed.rollouts[0].id, (d) => d.rollout.planned === true, 'planned');
      await expectStatus(api('POST', `/api/v1/rollouts/${pushed.rollouts[0].id}/${command}`, { body: { comment: 'contract' } }), 200);
    }

    // A newer push, cancelled while it waits for its start.
    const next = await expectStatus(steps.push(repository, 'v3'), 202);
    await steps.waitForRollout(next.rollouts[0].id, (d) => d.rollout.planned === true, 'planned');
    await expectStatus(api('POST', `/api/v1/rollouts/${next.rollouts[0].id}/cancel`, { body: { reason: 'contract' } }), 200);

    const answered = checkedAnswers();
    const unseen = Object.entries(document.paths as Record<string, Record<string, { responses: Record<string, unknown> }>>).flatMap(([path, item]) =>
      Object.entries(item).flatMap(([method, operation]) =>
        Object.keys(operation.responses)
          .map(Number)
          .filter((status) => status < 400)
          .map((status) => ({ key: `${method.toUpperCase()} ${path}`, status }))
          .filter(({ key, status }) => !racy.has(`${key} ${status}`) && !answered.get(key)?.has(status))
          .map(({ key, status }) => `${key} ${status}`),
      ),
    );
    expect(unseen, 'success statuses of the document no answer was checked with').toEqual([]);
    expect(answered.size).toBe(Object.values(document.paths as Record<string, object>).reduce((n, item) => n + Object.keys(item).length, 0));
  }, 180_000);
});
