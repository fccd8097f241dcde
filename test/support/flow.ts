/** Steps the end-to-end tests share: pushing an image, waiting for a rollout, reading its log. */
import type { Host } from '../../infra/embedded/host';
import { apiClient, waitFor } from './api';

export function flow(host: Host) {
  const api = apiClient(host.url, host.adminApiKey);

  async function push(repository: string, tag: string, pushedAt = Math.floor(Date.now() / 1000)) {
    return api('POST', `/api/v1/webhooks/docker-registry?token=${encodeURIComponent(host.webhookSecret)}`, {
      token: null,
      body: { push_data: { tag, pushed_at: pushedAt, pusher: 'ci' }, repository: { repo_name: repository } },
    });
  }

  async function rollout(id: string) {
    const { status, body } = await api('GET', `/api/v1/rollouts/${id}`);
    if (status !== 200) throw new Error(`GET rollout ${id} answered ${status}`);
    return body;
  }

  async function waitForRollout(id: string, predicate: (detail: any) => boolean, what: string, timeoutMs = 60_000) {
    return waitFor(async () => {
      const detail = await rollout(id);
      return predicate(detail) ? detail : undefined;
    }, timeoutMs, `rollout ${id}: ${what}`);
  }

  const waitForStatus = (id: string, status: string, timeoutMs?: number) =>
    waitForRollout(id, (d) => d.rollout.status === status, `status ${status}`, timeoutMs);

  async function events(id: string, pageSize = 100): Promise<any[]> {
    const all: any[] = [];
    let cursor: string | null = null;
    do {
      const { body }: { body: any } = await api('GET', `/api/v1/rollouts/${id}/events?limit=${pageSize}${cursor ? `&cursor=${cursor}` : ''}`);
      all.push(...body.events);
      cursor = body.next_cursor;
    } while (cursor);
    return all;
  }

  async function createPolicy(body: Record<string, unknown>) {
    const response = await api('POST', '/api/v1/policies', { body });
    if (response.status !== 201) throw new Error(`creating policy answered ${response.status}: ${JSON.stringify(response.body)}`);
    return response.body.policy;
  }

  return { api, push, rollout, waitForRollout, waitForStatus, events, createPolicy };
}
