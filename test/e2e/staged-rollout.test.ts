/**
 * The whole flow through the HTTP API on the embedded host: a simulated fleet of 20 devices polls
 * its target state with ETags and reports, a registry push starts a 3-batch staged rollout, and
 * the rollout walks batch by batch to `completed` with every device on the new image.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHost, type Host } from '../../infra/embedded/host';
import { registerFleet, startPolling, type SimulatedDevice } from '../../agent/simulator/fleet';
import { flow } from '../support/flow';

let host: Host;
let api: ReturnType<typeof flow>['api'];
let push: ReturnType<typeof flow>['push'];
let waitForStatus: ReturnType<typeof flow>['waitForStatus'];
let allEvents: ReturnType<typeof flow>['events'];

beforeAll(async () => {
  host = await startHost({ port: 0, dataDir: ':memory:', tickSeconds: 1, quiet: true });
  ({ api, push, waitForStatus, events: allEvents } = flow(host));
});

afterAll(async () => {
  await host?.stop();
});

describe('a staged rollout on a simulated fleet', () => {
  let fleet: SimulatedDevice[];
  let stopPolling: () => Promise<void>;

  beforeAll(async () => {
    fleet = await registerFleet({ apiUrl: host.url, adminKey: host.adminApiKey, size: 20, image: 'iotistic/test-app:v1.0.0' });
    stopPolling = startPolling(fleet, 150);
  });

  afterAll(async () => {
    await stopPolling?.();
  });

  it('moves batch by batch to completed with every device on the new image', async () => {
    const policy = await api('POST', '/api/v1/policies', {
      body: { image_pattern: 'iotistic/test-app:*', update_strategy: 'staged', staged_batches: 3, batch_delay_minutes: 0.02, update_timeout_minutes: 5 },
    });
    expect(policy.status).toBe(201);
    expect(policy.body.policy.batch_percentages).toEqual([10, 50, 100]);

    const accepted = await push('iotistic/test-app', 'v2.0.0');
    expect(accepted.status).toBe(202);
    expect(accepted.body.rollouts).toHaveLength(1);
    const rolloutId = accepted.body.rollouts[0].id;
    expect(accepted.body.rollouts[0]).toMatchObject({ policy_id: policy.body.policy.id, image: 'iotistic/test-app:v2.0.0' });

    const done = await waitForStatus(rolloutId, 'completed');
    expect(done.statistics).toMatchObject({ total_devices: 20, updated: 20, failed: 0, pending: 0, scheduled: 0, progress_percent: 100 });
    expect(done.rollout.batches.map((b: any) => [b.size, b.status])).toEqual([
      [2, 'completed'],
      [8, 'completed'],
      [10, 'completed'],
    ]);
    expect(done.devices).toHaveLength(20);
    expect(done.devices.every((d: any) => d.status === 'updated')).toBe(true);

    for (const device of fleet) expect(device.running[0]!.image).toBe('iotistic/test-app:v2.0.0');
    const { body: listed } = await api('GET', '/api/v1/devices?limit=100');
    expect(listed.devices).toHaveLength(20);
    for (const device of listed.devices) {
      expect(device.target_apps[0].image).toBe('iotistic/test-app:v2.0.0');
      expect(device.current_apps[0]).toMatchObject({ image: 'iotistic/test-app:v2.0.0', status: 'running' });
    }
    // Devices mostly hear "nothing changed": the ETag path works.
    expect(fleet.reduce((n, d) => n + d.notModified, 0)).toBeGreaterThan(fleet.length);

    const events = await allEvents(rolloutId);
    const types = events.map((e) => e.type);
    const count = (type: string) => types.filter((t) => t === type).length;
    expect(count('image.webhook_received')).toBe(1);
    expect(count('image.rollout_created')).toBe(1);
    expect(count('image.rollout_started')).toBe(1);
    expect(count('image.batch_started')).toBe(3);
    expect(count('image.batch_completed')).toBe(3);
    expect(count('image.device_scheduled')).toBe(20);
    expect(count('image.rollout_completed')).toBe(1);
    expect(types.at(-1)).toBe('image.rollout_completed');
    for (const event of events) {
      expect(event.rollout_id).toBe(rolloutId);
      expect(Number.isNaN(Date.parse(event.timestamp))).toBe(false);
      expect(event.details).toBeTypeOf('object');
    }
    expect(events.filter((e) => e.type === 'image.device_scheduled').every((e) => typeof e.device_uuid === 'string')).toBe(true);

    // Each batch starts only after the previous one completed and the batch delay passed.
    const at = (type: string, batch: number) => Date.parse(events.find((e) => e.type === type && e.details.batch === batch).timestamp);
    for (const batch of [2, 3]) {
      expect(at('image.batch_started', batch) - at('image.batch_completed', batch - 1)).toBeGreaterThanOrEqual(1200);
    }
  });

  it('answers a redelivered webhook the same and creates nothing', async () => {
    // After the first test's push of v2.0.0: an older push would be superseded by it.
    const pushedAt = Math.floor(Date.now() / 1000);
    const first = await push('iotistic/test-app', 'v2.0.1', pushedAt);
    const second = await push('iotistic/test-app', 'v2.0.1', pushedAt);
    expect(second.status).toBe(202);
    expect(second.body.rollouts.map((r: any) => r.id)).toEqual(first.body.rollouts.map((r: any) => r.id));
    const { body } = await api('GET', '/api/v1/rollouts?image_name=iotistic/test-app:v2.0.1');
    expect(body.rollouts).toHaveLength(1);
    const events = await allEvents(first.body.rollouts[0].id);
    expect(events.filter((e) => e.type === 'image.webhook_received')).toHaveLength(1);
    await waitForStatus(first.body.rollouts[0].id, 'completed');
  });
});
