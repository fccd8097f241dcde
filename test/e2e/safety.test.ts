/**
 * A rollout is safe on its own: devices are health-checked after they update, unhealthy or failed
 * ones are rolled back, too many failures pause the rollout, and an admin can pause, resume,
 * cancel and roll back. Each scenario runs a simulated fleet with real health endpoints on its own
 * loopback addresses, through the HTTP API, and checks the invariants of DESIGN §6 at the end.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHost, type Host } from '../../infra/embedded/host';
import { registerFleet, startHealthServers, startPolling, type DeviceBehaviour, type SimulatedDevice } from '../../agent/simulator/fleet';
import { flow } from '../support/flow';

let host: Host;
let f: ReturnType<typeof flow>;
const cleanups: (() => Promise<void>)[] = [];

beforeAll(async () => {
  host = await startHost({ port: 0, dataDir: ':memory:', tickSeconds: 1, quiet: true });
  f = flow(host);
});

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
  await host?.stop();
});

interface Fleet {
  devices: SimulatedDevice[];
  port: number;
}

/** A fleet on its own block of loopback addresses, polling, with health endpoints. */
async function fleet(size: number, image: string, behaviour: (i: number) => DeviceBehaviour = () => ({})): Promise<Fleet> {
  const devices = await registerFleet({ apiUrl: host.url, adminKey: host.adminApiKey, size, image, behaviour });
  const health = await startHealthServers(devices);
  cleanups.push(health.stop);
  cleanups.push(startPolling(devices, 100));
  return { devices, port: health.port };
}

const httpCheck = (port: number) => ({ type: 'http', endpoint: `http://{device_ip}:${port}/health`, expectedStatusCode: 200, timeout: 1, retries: 1 });

async function devicesByBatch(id: string): Promise<any[]> {
  const rows: any[] = [];
  let cursor: string | null = null;
  do {
    const { body }: { body: any } = await f.api('GET', `/api/v1/rollouts/${id}/devices?limit=100${cursor ? `&cursor=${cursor}` : ''}`);
    for (const batch of body.batches) rows.push(...batch.devices);
    cursor = body.next_cursor;
  } while (cursor);
  return rows;
}

/**
 * DESIGN §6: once a rollout has ended no device is left pending or scheduled (2); after a rollback
 * of everything no device targets the new image (3); the counters equal the device statuses (5).
 */
async function expectInvariants(id: string) {
  const detail = await f.rollout(id);
  const rows = await devicesByBatch(id);
  expect(rows).toHaveLength(detail.rollout.total_devices);
  const byStatus: Record<string, number> = {};
  for (const row of rows) byStatus[row.status] = (byStatus[row.status] ?? 0) + 1;
  for (const status of ['scheduled', 'updated', 'healthy', 'unhealthy', 'failed', 'rolled_back', 'skipped']) {
    expect(detail.statistics[status], `counter ${status}`).toBe(byStatus[status] ?? 0);
  }
  expect(detail.statistics.pending).toBe(byStatus.pending ?? 0);
  if (['completed', 'cancelled', 'rolled_back', 'failed'].includes(detail.rollout.status)) {
    expect(rows.filter((r) => r.status === 'pending' || r.status === 'scheduled')).toEqual([]);
  }
  if (detail.rollout.status === 'rolled_back') {
    for (const row of rows) {
      const { body } = await f.api('GET', `/api/v1/devices/${row.device_uuid}`);
      expect(body.device.target_apps[0].image).not.toBe(detail.rollout.image);
    }
  }
  return { detail, rows };
}

const eventsOf = async (id: string, type: string) => (await f.events(id)).filter((e) => e.type === type);

describe('health-gated rollouts', () => {
  it('health-checks every device and completes a healthy staged rollout', async () => {
    const { devices, port } = await fleet(10, 'safe/healthy:1');
    await f.createPolicy({ image_pattern: 'safe/healthy:*', staged_batches: 2, batch_delay_minutes: 0, health_check_enabled: true, health_check_config: httpCheck(port) });
    const { body } = await f.push('safe/healthy', '2');
    const id = body.rollouts[0].id;
    const { detail } = await f.waitForStatus(id, 'completed').then(() => expectInvariants(id));
    expect(detail.statistics).toMatchObject({ healthy: 10, unhealthy: 0, rolled_back: 0 });
    expect(await eventsOf(id, 'image.health_check_passed')).toHaveLength(10);
    expect(devices.every((d) => d.running[0]!.image === 'safe/healthy:2')).toBe(true);
  });

  it('rolls back a few unhealthy devices while the rollout goes on', async () => {
    const unhealthy = new Set([2, 7]);
    const { devices, port } = await fleet(20, 'safe/some:1', (i) => ({ unhealthyOnNewImage: unhealthy.has(i) }));
    await f.createPolicy({
      image_pattern: 'safe/some:*',
      staged_batches: 3,
      batch_delay_minutes: 0,
      health_check_enabled: true,
      health_check_config: httpCheck(port),
      max_failure_rate: 0.5,
    });
    const { body } = await f.push('safe/some', '2');
    const id = body.rollouts[0].id;
    await f.waitForStatus(id, 'completed');
    // The rolled-back devices pull their old image back on their next polls.
    const { detail, rows } = await expectInvariants(id);
    // Rolled back automatically, the two unhealthy devices are still the rollout's failures.
    expect(detail.statistics).toMatchObject({ healthy: 18, rolled_back: 2, failures: 2, failure_rate: 0.1 });
    const rolledBack = rows.filter((r) => r.status === 'rolled_back').map((r) => r.device_uuid).sort();
    expect(rolledBack).toEqual([devices[2]!.uuid, devices[7]!.uuid].sort());
    expect(rows.find((r) => r.status === 'rolled_back').error).toMatch(/HTTP 503/);
    expect((await eventsOf(id, 'image.health_check_failed')).map((e) => e.device_uuid).sort()).toEqual(rolledBack);
    expect((await eventsOf(id, 'image.device_rolled_back')).map((e) => e.device_uuid).sort()).toEqual(rolledBack);
    for (const [i, device] of devices.entries()) {
      const { body: admin } = await f.api('GET', `/api/v1/devices/${device.uuid}`);
      expect(admin.device.target_apps[0].image).toBe(unhealthy.has(i) ? 'safe/some:1' : 'safe/some:2');
    }
    await f.waitForRollout(id, () => devices[2]!.running[0]!.image === 'safe/some:1', 'rolled-back device back on its old image');
  });

  it('pauses when the failure rate passes the threshold, and resume carries on', async () => {
    const { devices, port } = await fleet(10, 'safe/rate:1');
    await f.createPolicy({
      image_pattern: 'safe/rate:*',
      update_strategy: 'manual',
      batch_percentages: [50, 100],
      batch_delay_minutes: 0,
      health_check_enabled: true,
      health_check_config: httpCheck(port),
      max_failure_rate: 0.2,
    });
    const { body } = await f.push('safe/rate', '2');
    const id = body.rollouts[0].id;
    await f.waitForRollout(id, (d) => d.rollout.planned, 'planned');
    // Two of the first batch's five devices will be unhealthy: 40% > 20%.
    const first = (await devicesByBatch(id)).filter((r) => r.batch === 1).map((r) => r.device_uuid);
    for (const device of devices) if (first.slice(0, 2).includes(device.uuid)) device.behaviour.unhealthyOnNewImage = true;

    expect((await f.api('POST', `/api/v1/rollouts/${id}/start`)).status).toBe(200);
    const paused = await f.waitForStatus(id, 'paused');
    expect(paused.rollout.status_reason).toMatch(/failure rate 40\.0% exceeds the policy's maximum of 20\.0%/);
    expect(paused.rollout.batches.map((b: any) => b.status)).toEqual(['completed', 'pending']);
    expect(paused.statistics).toMatchObject({ healthy: 3, rolled_back: 2, scheduled: 0, failure_rate: 0.4 });
    const [pausedEvent] = await eventsOf(id, 'image.rollout_paused');
    expect(pausedEvent.details).toMatchObject({ automatic: true, failure_rate: 0.4, max_failure_rate: 0.2, after_batch: 1 });

    // Nothing moves while paused.
    await new Promise((r) => setTimeout(r, 2500));
    expect((await f.rollout(id)).rollout.batches[1].status).toBe('pending');
    expect(await eventsOf(id, 'image.device_scheduled')).toHaveLength(5);

    const resumed = await f.api('POST', `/api/v1/rollouts/${id}/resume`);
    expect(resumed.status).toBe(200);
    expect(resumed.body.rollout.status).toBe('in_progress');
    expect((await f.rollout(id)).rollout).not.toHaveProperty('status_reason');
    // 2 failures of 10 processed devices: 20% is not above the threshold, so it completes.
    const done = await f.waitForStatus(id, 'completed');
    expect(done.statistics).toMatchObject({ healthy: 8, rolled_back: 2, failure_rate: 0.2 });
    const resumedEvents = await eventsOf(id, 'image.rollout_resumed');
    expect(resumedEvents).toHaveLength(1);
    expect(resumedEvents[0].details.paused_for).toMatch(/failure rate 40\.0%/);
    await expectInvariants(id);

    const again = await f.api('POST', `/api/v1/rollouts/${id}/resume`);
    expect(again.status).toBe(409);
    expect(again.body.error.message).toMatch(/it is completed/);
  });

  it('fails and rolls back a device that stays silent past the update timeout', async () => {
    const { devices, port } = await fleet(4, 'safe/silent:1', (i) => (i === 0 ? { silent: true } : {}));
    await f.createPolicy({
      image_pattern: 'safe/silent:*',
      update_strategy: 'auto',
      update_timeout_minutes: 0.05,
      health_check_enabled: true,
      health_check_config: httpCheck(port),
      max_failure_rate: 0.5,
    });
    const { body } = await f.push('safe/silent', '2');
    const id = body.rollouts[0].id;
    await f.waitForStatus(id, 'completed');
    const { detail, rows } = await expectInvariants(id);
    expect(detail.statistics).toMatchObject({ healthy: 3, rolled_back: 1, failure_rate: 0.25 });
    const silent = rows.find((r) => r.device_uuid === devices[0]!.uuid);
    expect(silent).toMatchObject({ status: 'rolled_back', error: expect.stringMatching(/no update reported within/) });
    const { body: admin } = await f.api('GET', `/api/v1/devices/${devices[0]!.uuid}`);
    expect(admin.device.target_apps[0].image).toBe('safe/silent:1');
  });
});

describe('admin control', () => {
  it('rolls back everything, even after completion: no device targets the new image', async () => {
    const { devices } = await fleet(8, 'ctl/all:1');
    await f.createPolicy({ image_pattern: 'ctl/all:*', staged_batches: 2, batch_delay_minutes: 0 });
    const { body } = await f.push('ctl/all', '2');
    const id = body.rollouts[0].id;
    await f.waitForStatus(id, 'completed');

    const result = await f.api('POST', `/api/v1/rollouts/${id}/rollback-all`, { body: { reason: 'bad release found in the field' } });
    expect(result.status).toBe(200);
    expect(result.body).toMatchObject({ devices_rolled_back: 8, devices_failed: 0, rollout: { status: 'rolled_back' } });
    const { detail } = await expectInvariants(id);
    expect(detail.rollout.status_reason).toBe('bad release found in the field');
    expect(detail.statistics.rolled_back).toBe(8);
    await f.waitForRollout(id, () => devices.every((d) => d.running[0]!.image === 'ctl/all:1'), 'the fleet back on the old image');
    const [event] = await eventsOf(id, 'image.rollout_rolled_back');
    expect(event.details).toMatchObject({ reason: 'bad release found in the field', rolled_back_from: 'completed' });
    expect(await eventsOf(id, 'image.device_rolled_back')).toHaveLength(8);

    const twice = await f.api('POST', `/api/v1/rollouts/${id}/rollback-all`, { body: {} });
    expect(twice.status).toBe(409);
    expect(twice.body.error.message).toMatch(/it is rolled_back/);
  });

  it("does not count an admin's rollback of a healthy rollout as failures", async () => {
    const { port } = await fleet(6, 'ctl/fine:1');
    await f.createPolicy({ image_pattern: 'ctl/fine:*', staged_batches: 2, batch_delay_minutes: 0, health_check_enabled: true, health_check_config: httpCheck(port) });
    const { body } = await f.push('ctl/fine', '2');
    const id = body.rollouts[0].id;
    const completed = await f.waitForStatus(id, 'completed');
    expect(completed.statistics).toMatchObject({ healthy: 6, failures: 0, failure_rate: 0 });

    expect((await f.api('POST', `/api/v1/rollouts/${id}/rollback-all`, { body: { reason: 'changed our minds' } })).status).toBe(200);
    const { detail } = await expectInvariants(id);
    expect(detail.statistics).toMatchObject({ rolled_back: 6, healthy: 0, failures: 0, failure_rate: 0, progress_percent: 100 });
    expect(detail.rollout.batches.map((b: any) => b.failures)).toEqual([0, 0]);
  });

  it('cancel schedules no further device, and skips the ones not reached', async () => {
    const { devices } = await fleet(10, 'ctl/cancel:1');
    await f.createPolicy({ image_pattern: 'ctl/cancel:*', batch_percentages: [30, 100], batch_delay_minutes: 10 });
    const { body } = await f.push('ctl/cancel', '2');
    const id = body.rollouts[0].id;
    // The first batch completes; the second waits ten minutes.
    await f.waitForRollout(id, (d) => d.rollout.batches[0].status === 'completed', 'first batch completed');
    const cancelled = await f.api('POST', `/api/v1/rollouts/${id}/cancel`, { body: { reason: 'release withdrawn' } });
    expect(cancelled.status).toBe(200);
    expect(cancelled.body.rollout.status).toBe('cancelled');

    await f.waitForRollout(id, (d) => d.statistics.skipped === 7, 'the rest skipped');
    const { rows, detail } = await expectInvariants(id);
    // Skipped devices count in the batch they belonged to.
    expect(detail.rollout.batches.map((b: any) => [b.counts.updated, b.counts.skipped, b.counts.pending])).toEqual([
      [3, 0, 0],
      [0, 7, 0],
    ]);
    expect(rows.filter((r) => r.status === 'updated')).toHaveLength(3);
    expect(await eventsOf(id, 'image.device_scheduled')).toHaveLength(3);
    const untouched = devices.filter((d) => rows.find((r) => r.device_uuid === d.uuid).status === 'skipped');
    for (const device of untouched) {
      const { body: admin } = await f.api('GET', `/api/v1/devices/${device.uuid}`);
      expect(admin.device.target_apps[0].image).toBe('ctl/cancel:1');
    }
    expect((await eventsOf(id, 'image.rollout_cancelled'))[0].details.reason).toBe('release withdrawn');

    // A device the rollout never updated has nothing to roll back.
    const skipped = await f.api('POST', `/api/v1/rollouts/${id}/devices/${untouched[0]!.uuid}/rollback`, { body: {} });
    expect(skipped.status).toBe(409);
    expect(skipped.body.error.message).toMatch(/has not updated/);
    expect((await f.api('POST', `/api/v1/rollouts/${id}/resume`)).status).toBe(409);
  });

  it('gives a batch paused mid-way its whole update timeout again on resume', async () => {
    const devices = await registerFleet({ apiUrl: host.url, adminKey: host.adminApiKey, size: 4, image: 'ctl/midway:1' });
    // A deadline long enough that a loaded machine schedules all four before it passes.
    await f.createPolicy({ image_pattern: 'ctl/midway:*', update_strategy: 'auto', update_timeout_minutes: 0.2 });
    const id = (await f.push('ctl/midway', '2')).body.rollouts[0].id;
    await f.waitForRollout(id, (d) => d.statistics.scheduled === 4, 'all scheduled');
    expect((await f.api('POST', `/api/v1/rollouts/${id}/pause`, { body: { reason: 'maintenance window closed' } })).status).toBe(200);
    await new Promise((r) => setTimeout(r, 13_000)); // past the 12 s deadline, while paused
    expect((await f.rollout(id)).statistics).toMatchObject({ scheduled: 4, failed: 0 });

    expect((await f.api('POST', `/api/v1/rollouts/${id}/resume`)).status).toBe(200);
    cleanups.push(startPolling(devices, 100));
    const done = await f.waitForStatus(id, 'completed');
    expect(done.statistics).toMatchObject({ updated: 4, failed: 0, rolled_back: 0 });
  });

  it('pauses by hand, and rolls back a single device', async () => {
    const { devices } = await fleet(6, 'ctl/one:1');
    await f.createPolicy({ image_pattern: 'ctl/one:*', batch_percentages: [50, 100], batch_delay_minutes: 0.05 });
    const { body } = await f.push('ctl/one', '2');
    const id = body.rollouts[0].id;
    await f.waitForRollout(id, (d) => d.rollout.batches[0].status === 'completed', 'first batch completed');
    const paused = await f.api('POST', `/api/v1/rollouts/${id}/pause`, { body: { reason: 'looking at metrics' } });
    expect(paused.status).toBe(200);
    expect(paused.body.rollout).toMatchObject({ status: 'paused', status_reason: 'looking at metrics' });
    // The answer shows the rollout as its read does, with no bookkeeping of the store's.
    expect(paused.body.rollout).toEqual((await f.rollout(id)).rollout);
    expect(paused.body.rollout).not.toHaveProperty('version');
    expect((await f.api('POST', `/api/v1/rollouts/${id}/pause`, { body: {} })).status).toBe(409);
    await new Promise((r) => setTimeout(r, 4000)); // past the batch delay: still nothing starts
    expect((await f.rollout(id)).rollout.batches[1].status).toBe('pending');

    const updated = (await devicesByBatch(id)).find((r) => r.status === 'updated');
    const one = await f.api('POST', `/api/v1/rollouts/${id}/devices/${updated.device_uuid}/rollback`, { body: { reason: 'customer complaint' } });
    expect(one.status).toBe(200);
    expect(one.body).toMatchObject({ device_uuid: updated.device_uuid, status: 'rolled_back' });
    const again = await f.api('POST', `/api/v1/rollouts/${id}/devices/${updated.device_uuid}/rollback`, { body: {} });
    expect(again.status).toBe(409);
    expect(again.body.error.message).toMatch(/already rolled back/);
    expect((await f.api('POST', `/api/v1/rollouts/${id}/devices/not-a-device/rollback`, { body: {} })).status).toBe(404);
    expect((await f.api('POST', `/api/v1/rollouts/ro-000000000000000000000000/pause`, { body: {} })).status).toBe(404);
    const device = devices.find((d) => d.uuid === updated.device_uuid)!;
    await f.waitForRollout(id, () => device.running[0]!.image === 'ctl/one:1', 'the device back on its old image');

    expect((await f.api('POST', `/api/v1/rollouts/${id}/resume`, { body: {} })).status).toBe(200);
    const done = await f.waitForStatus(id, 'completed');
    expect(done.statistics).toMatchObject({ updated: 5, rolled_back: 1 });
    await expectInvariants(id);
    const active = await f.api('GET', '/api/v1/rollouts/active');
    expect(active.body.rollouts.map((r: any) => r.id)).not.toContain(id);
  });
});
