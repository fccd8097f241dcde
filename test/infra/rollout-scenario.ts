/**
 * The end-to-end scenario every host runs: a simulated fleet polls its target state, a Docker Hub
 * push starts a two-batch staged rollout, and the rollout completes with every device on the new
 * image. Used against the embedded host running the synthesised bundles (bundles.test.ts) and
 * against the stack deployed to LocalStack (test/localstack/rollout.test.ts).
 */
import { randomBytes } from 'node:crypto';
import { expect } from 'vitest';
import { registerFleet, startPolling } from '../../agent/simulator/fleet';
import { apiClient } from '../support/api';

export interface Deployment {
  /** Base URL that `/api/v1/...` paths are appended to. */
  url: string;
  adminKey: string;
  webhookSecret: string;
}

export interface ScenarioOptions {
  devices: number;
  pollIntervalMs: number;
  /** How long the rollout may take to complete, and how often to look. */
  timeoutMs: number;
  checkIntervalMs: number;
  /** Fail on any poll that did not answer 200 or 304 (a device would simply poll again). */
  everyPollAnswered: boolean;
}

async function until<T>(check: () => Promise<T | undefined>, options: ScenarioOptions): Promise<T | undefined> {
  const deadline = Date.now() + options.timeoutMs;
  while (Date.now() < deadline) {
    const value = await check();
    if (value !== undefined) return value;
    await new Promise((wake) => setTimeout(wake, options.checkIntervalMs));
  }
  return undefined;
}

export async function runStagedRollout(target: Deployment, options: ScenarioOptions): Promise<void> {
  const api = apiClient(target.url, target.adminKey);
  // A repository of its own, so a rerun against a deployment that kept its table starts afresh.
  const repository = `fleet-e2e/app-${randomBytes(4).toString('hex')}`;

  const policy = await api('POST', '/api/v1/policies', {
    body: { image_pattern: `${repository}:*`, update_strategy: 'staged', batch_percentages: [50, 100], batch_delay_minutes: 0, update_timeout_minutes: 10 },
  });
  expect(policy.status, JSON.stringify(policy.body)).toBe(201);

  const fleet = await registerFleet({ apiUrl: target.url, adminKey: target.adminKey, size: options.devices, image: `${repository}:v1`, namePrefix: 'e2e' });
  const pollErrors: unknown[] = [];
  const stopPolling = startPolling(fleet, options.pollIntervalMs, (error) => pollErrors.push(error));
  try {
    const pushed = await api('POST', `/api/v1/webhooks/docker-registry?token=${encodeURIComponent(target.webhookSecret)}`, {
      token: null,
      body: { push_data: { tag: 'v2', pushed_at: Math.floor(Date.now() / 1000), pusher: 'e2e' }, repository: { repo_name: repository } },
    });
    expect(pushed.status, JSON.stringify(pushed.body)).toBe(202);
    expect(pushed.body.rollouts).toHaveLength(1);
    const rolloutId: string = pushed.body.rollouts[0].id;

    let last: { status: number; body: any } | undefined;
    const done = await until(async () => {
      last = await api('GET', `/api/v1/rollouts/${rolloutId}`);
      return last.status === 200 && last.body.rollout.status === 'completed' ? last.body : undefined;
    }, options);
    if (!done) {
      const seen = last?.status === 200 ? { rollout: last.body.rollout, statistics: last.body.statistics } : last;
      throw new Error(`rollout ${rolloutId} did not complete within ${options.timeoutMs} ms; last seen: ${JSON.stringify(seen)}`);
    }

    const half = Math.ceil(options.devices / 2);
    expect(done.rollout.batches.map((b: any) => [b.size, b.status])).toEqual([
      [half, 'completed'],
      [options.devices - half, 'completed'],
    ]);
    expect(done.statistics).toMatchObject({ total_devices: options.devices, updated: options.devices, failed: 0, pending: 0, scheduled: 0 });
    for (const device of fleet) expect(device.running[0]!.image).toBe(`${repository}:v2`);
    if (options.everyPollAnswered) expect(pollErrors.map(String)).toEqual([]);
  } finally {
    await stopPolling();
  }
}
