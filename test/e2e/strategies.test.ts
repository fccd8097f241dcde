/**
 * The other ways a rollout runs: `auto` (everything at once), `manual` (waits for an admin), and
 * devices that fail or never answer (their batch still completes, they are marked failed).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHost, type Host } from '../../infra/embedded/host';
import { registerFleet, startPolling } from '../../agent/simulator/fleet';
import { flow } from '../support/flow';

let host: Host;
let f: ReturnType<typeof flow>;
const stops: (() => Promise<void>)[] = [];

beforeAll(async () => {
  host = await startHost({ port: 0, dataDir: ':memory:', tickSeconds: 1, quiet: true });
  f = flow(host);
});

afterAll(async () => {
  await Promise.all(stops.map((stop) => stop()));
  await host?.stop();
});

async function fleetOf(size: number, image: string, behaviour?: Parameters<typeof registerFleet>[0]['behaviour']) {
  const devices = await registerFleet({ apiUrl: host.url, adminKey: host.adminApiKey, size, image, ...(behaviour ? { behaviour } : {}) });
  stops.push(startPolling(devices, 150));
  return devices;
}

describe('rollout strategies', () => {
  it('auto: updates the whole fleet in one batch', async () => {
    await f.createPolicy({ image_pattern: 'fleet/auto-app:*', update_strategy: 'auto', batch_delay_minutes: 0 });
    const devices = await fleetOf(6, 'fleet/auto-app:1.0');
    const { body } = await f.push('fleet/auto-app', '1.1');
    const done = await f.waitForStatus(body.rollouts[0].id, 'completed');
    expect(done.rollout.batches).toHaveLength(1);
    expect(done.rollout.batches[0]).toMatchObject({ size: 6, percentage: 100, status: 'completed' });
    expect(done.statistics.updated).toBe(6);
    expect(devices.every((d) => d.running[0]!.image === 'fleet/auto-app:1.1')).toBe(true);
  });

  it('manual: plans the rollout, then waits for an admin to start it', async () => {
    await f.createPolicy({ image_pattern: 'fleet/manual-app:*', update_strategy: 'manual', staged_batches: 2, batch_delay_minutes: 0 });
    const devices = await fleetOf(5, 'fleet/manual-app:1.0');
    const { body } = await f.push('fleet/manual-app', '2.0');
    const id = body.rollouts[0].id;
    expect(body.rollouts[0].status).toBe('pending');

    const planned = await f.waitForRollout(id, (d) => d.rollout.planned === true, 'planned');
    expect(planned.rollout.status).toBe('pending');
    expect(planned.rollout.batches.map((b: any) => b.size)).toEqual([1, 4]);
    // Several ticks go by; nothing is scheduled while the rollout waits.
    await new Promise((r) => setTimeout(r, 2500));
    const waiting = await f.rollout(id);
    expect(waiting.rollout.status).toBe('pending');
    expect(waiting.statistics.scheduled + waiting.statistics.updated).toBe(0);
    expect(devices.every((d) => d.running[0]!.image === 'fleet/manual-app:1.0')).toBe(true);

    const started = await f.api('POST', `/api/v1/rollouts/${id}/start`);
    expect(started.status).toBe(200);
    expect(started.body.rollout.status).toBe('in_progress');
    await f.waitForStatus(id, 'completed');
    expect(devices.every((d) => d.running[0]!.image === 'fleet/manual-app:2.0')).toBe(true);

    const again = await f.api('POST', `/api/v1/rollouts/${id}/start`);
    expect(again.status).toBe(409);
    expect(again.body.error.message).toMatch(/completed/);
    const types = (await f.events(id)).map((e) => e.type);
    expect(types.filter((t) => t === 'image.rollout_started')).toHaveLength(1);
  });

  it('a newer push supersedes a rollout still under way, and every device ends on the newest image', async () => {
    const policy = await f.createPolicy({ image_pattern: 'fleet/busy-app:*', batch_percentages: [20, 100], batch_delay_minutes: 10 });
    const devices = await fleetOf(10, 'fleet/busy-app:1');
    const older = (await f.push('fleet/busy-app', '2')).body.rollouts[0].id;
    // Two devices are on :2, the other eight wait ten minutes for the second batch.
    await f.waitForRollout(older, (d) => d.rollout.batches[0].status === 'completed', 'first batch of :2 completed');

    // The next release goes out at once (a rollout keeps the settings of its policy when it was made).
    const updated = await f.api('PUT', `/api/v1/policies/${policy.id}`, { body: { image_pattern: 'fleet/busy-app:*', update_strategy: 'auto', batch_delay_minutes: 0 } });
    expect(updated.status).toBe(200);
    const newer = (await f.push('fleet/busy-app', '3')).body.rollouts[0].id;
    const superseded = await f.waitForRollout(older, (d) => d.rollout.status === 'cancelled' && d.statistics.skipped === 8, 'the :2 rollout superseded');
    expect(superseded.rollout.status_reason).toBe(`superseded by rollout ${newer} (fleet/busy-app:3)`);
    expect(superseded.statistics).toMatchObject({ updated: 2, scheduled: 0, pending: 0 });

    const done = await f.waitForStatus(newer, 'completed');
    expect(done.statistics).toMatchObject({ total_devices: 10, updated: 10 });
    await f.waitForRollout(newer, () => devices.every((d) => d.running[0]!.image === 'fleet/busy-app:3'), 'the whole fleet on :3');
    // Rolling back goes to the image each device ran: :2 for the two that had it, :1 for the rest.
    expect(done.devices.filter((r: any) => r.previous_image === 'fleet/busy-app:2')).toHaveLength(2);
    expect(done.devices.filter((r: any) => r.previous_image === 'fleet/busy-app:1')).toHaveLength(8);
  });

  it('fails a device that reports an error and one that stays silent past the update timeout', async () => {
    await f.createPolicy({
      image_pattern: 'fleet/flaky-app:*',
      batch_percentages: [50, 100],
      batch_delay_minutes: 0,
      update_timeout_minutes: 0.05,
      // Failed devices stay failed and the rollout goes on: rollback and pausing have tests of their own.
      auto_rollback_enabled: false,
      max_failure_rate: 1,
    });
    const devices = await fleetOf(6, 'fleet/flaky-app:1.0', (i) => (i === 0 ? { silent: true } : i === 1 ? { failUpdate: true } : {}));
    const { body } = await f.push('fleet/flaky-app', '1.1');
    const id = body.rollouts[0].id;
    const done = await f.waitForStatus(id, 'completed');
    expect(done.statistics).toMatchObject({ total_devices: 6, updated: 4, failed: 2 });

    const byUuid = new Map(done.devices.map((d: any) => [d.device_uuid, d]));
    const silent = byUuid.get(devices[0]!.uuid) as any;
    const failing = byUuid.get(devices[1]!.uuid) as any;
    expect(silent).toMatchObject({ status: 'failed', error: expect.stringMatching(/no update reported within/) });
    expect(failing).toMatchObject({ status: 'failed', error: expect.stringMatching(/failed to start/) });

    const failed = (await f.events(id)).filter((e) => e.type === 'image.device_failed');
    expect(failed.map((e) => e.device_uuid).sort()).toEqual([devices[0]!.uuid, devices[1]!.uuid].sort());
  });
});
