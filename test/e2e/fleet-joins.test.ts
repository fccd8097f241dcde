/**
 * Devices that join a rollout under way, through the HTTP API on the embedded host with a
 * simulated fleet: one registered while a batch is updating goes into that batch; one registered
 * once the batch has completed (the next one waiting out its delay) into the next; one registered
 * after the rollout completed gets the new image at once with the last batch's health check
 * (the rollout opens again for it and completes again); and one whose labels come to match the
 * policy's selector joins as a registered one does, while a label change of a device already in
 * the rollout adds nothing. Every count comes out right.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerFleet, SimulatedDevice, startHealthServers, startPolling } from '../../agent/simulator/fleet';
import { startHost, type Host } from '../../infra/embedded/host';
import { waitFor } from '../support/api';
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

/** A device registered through the API at its own loopback address (fleets take 127.0.1.x). */
async function registered(name: string, image: string, ipAddress: string, labels?: Record<string, string>): Promise<SimulatedDevice> {
  const { status, body } = await f.api('POST', '/api/v1/devices', { body: { name, ip_address: ipAddress, apps: [{ name: 'main', image }], ...(labels ? { labels } : {}) } });
  expect(status, JSON.stringify(body)).toBe(201);
  return new SimulatedDevice({ apiUrl: host.url, uuid: body.device.uuid, token: body.device_token, apps: [{ name: 'main', image }], ipAddress });
}

async function rows(rolloutId: string): Promise<any[]> {
  const { body } = await f.api('GET', `/api/v1/rollouts/${rolloutId}/devices?limit=500`);
  return body.batches.flatMap((batch: any) => batch.devices.map((device: any) => ({ ...device, listed_in: batch.number })));
}

async function waitForRow(rolloutId: string, uuid: string, status: string): Promise<any> {
  return waitFor(async () => {
    const row = (await rows(rolloutId)).find((r) => r.device_uuid === uuid);
    return row?.status === status ? row : undefined;
  }, 30_000, `device ${uuid} ${status} in ${rolloutId}`);
}

async function pushed(repository: string, tag: string): Promise<string> {
  const accepted = await f.push(repository, tag);
  expect(accepted.status, JSON.stringify(accepted.body)).toBe(202);
  return accepted.body.rollouts[0].id;
}

const joinEvents = async (rolloutId: string) => (await f.events(rolloutId)).filter((e) => e.type === 'image.device_joined');

describe('a device that joins a rollout under way', () => {
  it('goes into the batch that is still updating, is scheduled at once and counted in it', async () => {
    const fleet = await registerFleet({ apiUrl: host.url, adminKey: host.adminApiKey, size: 4, image: 'acme/join-now:1', namePrefix: 'join-now' });
    await f.createPolicy({ image_pattern: 'acme/join-now:*', update_strategy: 'staged', batch_percentages: [50, 100], batch_delay_minutes: 0, update_timeout_minutes: 30, max_failure_rate: 0 });
    const rolloutId = await pushed('acme/join-now', '2');
    // Nobody polls yet: batch 1 stays under way.
    await waitFor(async () => ((await rows(rolloutId)).filter((r) => r.batch === 1 && r.status === 'scheduled').length === 2 ? true : undefined), 30_000, 'batch 1 scheduled');

    const joiner = await registered('join-now-late', 'acme/join-now:1', '127.0.9.1');
    const row = await waitForRow(rolloutId, joiner.uuid, 'scheduled');
    expect(row).toMatchObject({ batch: 1, listed_in: 1, new_image: 'acme/join-now:2', previous_image: 'acme/join-now:1' });
    const during = await f.rollout(rolloutId);
    expect(during.rollout.total_devices).toBe(5);
    expect(during.rollout.batches[0]).toMatchObject({ size: 2, joined_devices: 1, status: 'in_progress' });

    cleanups.push(startPolling([...fleet, joiner], 150));
    const done = await f.waitForStatus(rolloutId, 'completed');
    expect(done.statistics).toMatchObject({ total_devices: 5, updated: 5, pending: 0, failures: 0 });
    expect(done.rollout.batches.map((b: any) => [b.size, b.joined_devices ?? 0, b.status])).toEqual([
      [2, 1, 'completed'],
      [2, 0, 'completed'],
    ]);
    const joined = await joinEvents(rolloutId);
    expect(joined).toHaveLength(1);
    expect(joined[0]).toMatchObject({ device_uuid: joiner.uuid, details: { app: 'main', batch: 1, from_image: 'acme/join-now:1', to_image: 'acme/join-now:2' } });
    // Joined and scheduled share their millisecond, so their order in the log is not theirs to keep.
    expect((await f.events(rolloutId)).filter((e) => e.device_uuid === joiner.uuid).map((e) => e.type).sort()).toEqual(['image.device_joined', 'image.device_scheduled', 'image.device_updated']);
  });

  it('goes into the next batch once the batch under way has completed, and updates when that batch starts', async () => {
    const fleet = await registerFleet({ apiUrl: host.url, adminKey: host.adminApiKey, size: 2, image: 'acme/join-next:1', namePrefix: 'join-next' });
    cleanups.push(startPolling(fleet, 150));
    await f.createPolicy({ image_pattern: 'acme/join-next:*', update_strategy: 'staged', batch_percentages: [50, 100], batch_delay_minutes: 60, update_timeout_minutes: 30, max_failure_rate: 0 });
    const rolloutId = await pushed('acme/join-next', '2');
    await f.waitForRollout(rolloutId, (d) => d.rollout.batches[0].status === 'completed' && Boolean(d.rollout.next_batch_due_at), 'batch 1 completed, batch 2 waiting');

    const joiner = await registered('join-next-late', 'acme/join-next:1', '127.0.9.2');
    cleanups.push(startPolling([joiner], 150));
    const row = await waitForRow(rolloutId, joiner.uuid, 'pending');
    expect(row).toMatchObject({ batch: 2, listed_in: 2 });
    // It waits with batch 2: nothing is asked of it before the delay is over.
    await new Promise((r) => setTimeout(r, 1_000));
    expect((await rows(rolloutId)).find((r) => r.device_uuid === joiner.uuid).status).toBe('pending');

    await host.clock.advance(61 * 60_000);
    const done = await f.waitForStatus(rolloutId, 'completed');
    expect(done.statistics).toMatchObject({ total_devices: 3, updated: 3, failures: 0 });
    expect(done.rollout.batches.map((b: any) => [b.size, b.joined_devices ?? 0])).toEqual([
      [1, 0],
      [1, 1],
    ]);
    expect((await rows(rolloutId)).find((r) => r.device_uuid === joiner.uuid)).toMatchObject({ batch: 2, status: 'updated' });
  });

  it('after the rollout completed gets the new image at once with the last batch health check, and the rollout completes again', async () => {
    const fleet = await registerFleet({ apiUrl: host.url, adminKey: host.adminApiKey, size: 2, image: 'acme/join-after:1', namePrefix: 'join-after' });
    const health = await startHealthServers(fleet);
    cleanups.push(health.stop);
    cleanups.push(startPolling(fleet, 150));
    await f.createPolicy({
      image_pattern: 'acme/join-after:*',
      update_strategy: 'auto',
      batch_delay_minutes: 0,
      update_timeout_minutes: 30,
      health_check_enabled: true,
      health_check_config: { type: 'http', endpoint: `http://{device_ip}:${health.port}/health`, expectedStatusCode: 200, timeout: 1, retries: 0 },
      auto_rollback_enabled: true,
      max_failure_rate: 0.5,
    });
    const rolloutId = await pushed('acme/join-after', '2');
    const first = await f.waitForStatus(rolloutId, 'completed');
    expect(first.statistics).toMatchObject({ total_devices: 2, healthy: 2 });
    await f.waitForRollout(rolloutId, (d) => !d.rollout.sweep, 'completion sweep done');

    const late = await registered('join-after-late', 'acme/join-after:1', '127.0.9.3');
    await late.startHealthServer(health.port);
    cleanups.push(() => late.stopHealthServer());
    const row = await waitForRow(rolloutId, late.uuid, 'scheduled');
    expect(row).toMatchObject({ batch: 1 });
    cleanups.push(startPolling([late], 150));
    const healthy = await waitForRow(rolloutId, late.uuid, 'healthy');
    expect(healthy.batch).toBe(1);

    const again = await f.waitForStatus(rolloutId, 'completed');
    expect(again.statistics).toMatchObject({ total_devices: 3, healthy: 3, failures: 0, pending: 0 });
    expect(again.rollout.batches[0]).toMatchObject({ size: 2, joined_devices: 1, status: 'completed' });
    const { body } = await f.api('GET', `/api/v1/devices/${late.uuid}`);
    expect(body.device.target_apps[0].image).toBe('acme/join-after:2');
    const types = (await f.events(rolloutId)).filter((e) => e.device_uuid === late.uuid).map((e) => e.type);
    expect(types.sort()).toEqual(['image.device_joined', 'image.device_scheduled', 'image.device_updated', 'image.health_check_passed']);
    expect((await joinEvents(rolloutId))[0].details).toMatchObject({ batch: 1, reopened: true });
    expect((await f.events(rolloutId)).filter((e) => e.type === 'image.rollout_completed')).toHaveLength(2);
  });
});

describe('a device whose labels come to match the selector', () => {
  it('joins like a registered one; a label change of a device already in the rollout adds nothing', async () => {
    const fleet = await registerFleet({ apiUrl: host.url, adminKey: host.adminApiKey, size: 2, image: 'acme/join-label:1', namePrefix: 'join-label', labels: () => ({ site: 'berlin' }) });
    const paris = await registered('join-label-paris', 'acme/join-label:1', '127.0.9.4', { site: 'paris' });
    await f.createPolicy({ image_pattern: 'acme/join-label:*', update_strategy: 'auto', batch_delay_minutes: 0, update_timeout_minutes: 30, max_failure_rate: 0, device_selector: { site: 'berlin' } });
    const rolloutId = await pushed('acme/join-label', '2');
    await waitFor(async () => ((await rows(rolloutId)).filter((r) => r.status === 'scheduled').length === 2 ? true : undefined), 30_000, 'berlin devices scheduled');
    expect((await f.rollout(rolloutId)).rollout.total_devices).toBe(2);

    // Already in: a new label on it is no reason to join again.
    expect((await f.api('PATCH', `/api/v1/devices/${fleet[0]!.uuid}`, { body: { labels: { ring: 'beta' } } })).status).toBe(200);
    // Moving to berlin makes it match.
    expect((await f.api('PATCH', `/api/v1/devices/${paris.uuid}`, { body: { labels: { site: 'berlin' } } })).status).toBe(200);
    expect(await waitForRow(rolloutId, paris.uuid, 'scheduled')).toMatchObject({ batch: 1 });

    cleanups.push(startPolling([...fleet, paris], 150));
    const done = await f.waitForStatus(rolloutId, 'completed');
    expect(done.statistics).toMatchObject({ total_devices: 3, updated: 3, skipped: 0, failures: 0 });
    expect((await rows(rolloutId)).map((r) => r.device_uuid).sort()).toEqual([...fleet.map((d) => d.uuid), paris.uuid].sort());
    expect((await joinEvents(rolloutId)).map((e) => e.device_uuid)).toEqual([paris.uuid]);
  });
});
