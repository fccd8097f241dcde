/**
 * Deleting a device and rotating its token, through the HTTP API on the embedded host with a
 * simulated fleet. A deleted device's token stops working at once and nothing of it is left (not
 * in the table, the listing, nor a later rollout's plan). A device deleted in the middle of a
 * rollout leaves it: its row becomes `skipped` with an event, whether it was still to update or
 * updated and waiting for its health check, and the batch and the rollout complete without it.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerFleet, SimulatedDevice, startHealthServers, startPolling } from '../../agent/simulator/fleet';
import { startHost, type Host } from '../../infra/embedded/host';
import { expectError, waitFor } from '../support/api';
import { flow } from '../support/flow';

let host: Host;
let f: ReturnType<typeof flow>;
let dynamo: DynamoDBDocumentClient;
const cleanups: (() => Promise<void>)[] = [];

beforeAll(async () => {
  host = await startHost({ port: 0, dataDir: ':memory:', tickSeconds: 1, quiet: true });
  f = flow(host);
  dynamo = DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1', credentials: { accessKeyId: 'test', secretAccessKey: 'test' }, endpoint: host.endpoints.dynamodb }));
});

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
  dynamo?.destroy();
  await host?.stop();
});

/** Every item of the table whose key names the device. */
async function itemsOf(uuid: string): Promise<Record<string, unknown>[]> {
  const found: Record<string, unknown>[] = [];
  let start: Record<string, unknown> | undefined;
  do {
    const page = await dynamo.send(new ScanCommand({ TableName: host.tableName, ExclusiveStartKey: start }));
    for (const item of page.Items ?? []) if (String(item.pk).includes(uuid) || String(item.sk).includes(uuid)) found.push(item);
    start = page.LastEvaluatedKey;
  } while (start);
  return found;
}

/** A device registered through the API, with the token it was given. */
async function registered(name: string, image: string): Promise<{ device: SimulatedDevice; token: string }> {
  const { status, body } = await f.api('POST', '/api/v1/devices', { body: { name, ip_address: '127.0.3.1', apps: [{ name: 'main', image }] } });
  expect(status, JSON.stringify(body)).toBe(201);
  const device = new SimulatedDevice({ apiUrl: host.url, uuid: body.device.uuid, token: body.device_token, apps: [{ name: 'main', image }], ipAddress: '127.0.3.1' });
  return { device, token: body.device_token };
}

const poll = (device: SimulatedDevice, token: string) => f.api('GET', `/api/v1/devices/${device.uuid}/state`, { token });

async function rows(rolloutId: string): Promise<any[]> {
  const { body } = await f.api('GET', `/api/v1/rollouts/${rolloutId}/devices?limit=500`);
  return body.batches.flatMap((batch: any) => batch.devices);
}

const rowOf = async (rolloutId: string, uuid: string) => (await rows(rolloutId)).find((row) => row.device_uuid === uuid);

/** Waits until the first batch's rows are all scheduled (their targets set) and returns them. */
async function firstBatchScheduled(rolloutId: string): Promise<any[]> {
  return waitFor(async () => {
    const first = (await rows(rolloutId)).filter((row) => row.batch === 1);
    return first.length > 0 && first.every((row) => row.status === 'scheduled') ? first : undefined;
  }, 30_000, `rollout ${rolloutId}: first batch scheduled`);
}

async function waitForRow(rolloutId: string, uuid: string, status: string): Promise<any> {
  return waitFor(async () => {
    const row = await rowOf(rolloutId, uuid);
    return row?.status === status ? row : undefined;
  }, 30_000, `device ${uuid} ${status} in ${rolloutId}`);
}

async function pushed(repository: string, tag: string): Promise<string> {
  const accepted = await f.push(repository, tag);
  expect(accepted.status, JSON.stringify(accepted.body)).toBe(202);
  return accepted.body.rollouts[0].id;
}

describe('rotating a device token', () => {
  it('refuses the old token at once and takes the new one', async () => {
    const { device, token: old } = await registered('rotating', 'acme/rotate:1');
    expect((await poll(device, old)).status).toBe(200);

    const rotated = await f.api('POST', `/api/v1/devices/${device.uuid}/token`);
    expect(rotated.status, JSON.stringify(rotated.body)).toBe(200);
    expect(rotated.body).toEqual({ device_uuid: device.uuid, token: expect.stringMatching(new RegExp(`^dt_${device.uuid}\\.`)) });
    expect(rotated.body.token).not.toBe(old);
    expectError(await poll(device, old), 401);
    expectError(await f.api('PATCH', `/api/v1/devices/${device.uuid}/state`, { token: old, body: { apps: [] } }), 401);
    expect((await poll(device, rotated.body.token)).status).toBe(200);

    // Rotated again, the token of the first rotation goes the same way; the answer never shows up in a read.
    const again = await f.api('POST', `/api/v1/devices/${device.uuid}/token`);
    expectError(await poll(device, rotated.body.token), 401);
    expect((await poll(device, again.body.token)).status).toBe(200);
    expect(JSON.stringify((await f.api('GET', `/api/v1/devices/${device.uuid}`)).body)).not.toContain(again.body.token);

    expectError(await f.api('POST', '/api/v1/devices/00000000-0000-4000-8000-000000000000/token'), 404, '00000000-0000-4000-8000-000000000000');
    // A device's own token does not let it rotate itself.
    expectError(await f.api('POST', `/api/v1/devices/${device.uuid}/token`, { token: again.body.token }), 403);
  });
});

describe('deleting a device', () => {
  it('takes its token, its listing and its memberships with it, so a later rollout plans without it', async () => {
    const { device: victim, token } = await registered('gone', 'acme/gone:1');
    const kept = await registerFleet({ apiUrl: host.url, adminKey: host.adminApiKey, size: 2, image: 'acme/gone:1', namePrefix: 'gone' });
    cleanups.push(startPolling([victim, ...kept], 150));
    expect((await poll(victim, token)).status).toBe(200);
    expect((await itemsOf(victim.uuid)).length).toBeGreaterThan(1); // the device and its membership

    expect((await f.api('DELETE', `/api/v1/devices/${victim.uuid}`)).status).toBe(204);
    expectError(await poll(victim, token), 401);
    expectError(await f.api('GET', `/api/v1/devices/${victim.uuid}`), 404, victim.uuid);
    const { body: listed } = await f.api('GET', '/api/v1/devices?limit=200');
    expect(listed.devices.map((d: any) => d.uuid)).not.toContain(victim.uuid);
    expect(listed.devices.map((d: any) => d.uuid)).toEqual(expect.arrayContaining(kept.map((d) => d.uuid)));
    expect(await itemsOf(victim.uuid)).toEqual([]);
    expectError(await f.api('DELETE', `/api/v1/devices/${victim.uuid}`), 404, victim.uuid);

    await f.createPolicy({ image_pattern: 'acme/gone:*', batch_delay_minutes: 0 });
    const rolloutId = await pushed('acme/gone', '2');
    const done = await f.waitForStatus(rolloutId, 'completed');
    expect(done.rollout.total_devices).toBe(2);
    expect((await rows(rolloutId)).map((row) => row.device_uuid).sort()).toEqual(kept.map((d) => d.uuid).sort());
  });

  it('skips a device of the batch under way that had not updated yet: the batch and the rollout complete without it', async () => {
    const fleet = await registerFleet({ apiUrl: host.url, adminKey: host.adminApiKey, size: 4, image: 'acme/midway:1', namePrefix: 'midway' });
    // Any failure would pause the rollout: the deleted device must not count as one.
    await f.createPolicy({ image_pattern: 'acme/midway:*', update_strategy: 'staged', batch_percentages: [50, 100], batch_delay_minutes: 0, update_timeout_minutes: 30, max_failure_rate: 0 });
    const rolloutId = await pushed('acme/midway', '2');
    const first = await firstBatchScheduled(rolloutId);
    const victim = fleet.find((d) => d.uuid === first[0].device_uuid)!;
    // Every device but the victim polls and updates; the first batch waits on the victim.
    cleanups.push(startPolling(fleet.filter((d) => d !== victim), 150));
    await waitForRow(rolloutId, first[1].device_uuid, 'updated');
    await new Promise((r) => setTimeout(r, 1_500));
    const waiting = await f.rollout(rolloutId);
    expect(waiting.rollout.batches[0].status).toBe('in_progress');
    expect((await rowOf(rolloutId, victim.uuid)).status).toBe('scheduled');

    expect((await f.api('DELETE', `/api/v1/devices/${victim.uuid}`)).status).toBe(204);
    const done = await f.waitForStatus(rolloutId, 'completed');
    expect(done.statistics).toMatchObject({ total_devices: 4, updated: 3, skipped: 1, failed: 0, failures: 0, failure_rate: 0, pending: 0, scheduled: 0 });
    expect(done.rollout.batches.map((b: any) => [b.size, b.status])).toEqual([
      [2, 'completed'],
      [2, 'completed'],
    ]);
    expect(await rowOf(rolloutId, victim.uuid)).toMatchObject({ status: 'skipped', batch: 1, error: 'device deleted' });

    const events = await f.events(rolloutId);
    const skipped = events.filter((e) => e.type === 'image.device_skipped');
    expect(skipped).toHaveLength(1);
    expect(skipped[0]).toMatchObject({ device_uuid: victim.uuid, details: { app: 'main', batch: 1, reason: 'device deleted', was: 'scheduled' } });
    expect(events.filter((e) => e.device_uuid === victim.uuid).map((e) => e.type)).toEqual(['image.device_scheduled', 'image.device_skipped']);
    expect(await itemsOf(victim.uuid)).toEqual([]);
  });

  it('skips a device deleted while it waits for its health check: it is never checked and counts for nothing', async () => {
    const fleet = await registerFleet({ apiUrl: host.url, adminKey: host.adminApiKey, size: 4, image: 'acme/checked:1', namePrefix: 'checked' });
    const health = await startHealthServers(fleet);
    cleanups.push(health.stop);
    await f.createPolicy({
      image_pattern: 'acme/checked:*',
      update_strategy: 'staged',
      batch_percentages: [50, 100],
      batch_delay_minutes: 0,
      update_timeout_minutes: 30,
      health_check_enabled: true,
      health_check_config: { type: 'http', endpoint: `http://{device_ip}:${health.port}/health`, expectedStatusCode: 200, timeout: 1, retries: 0 },
      auto_rollback_enabled: true,
      max_failure_rate: 0,
    });
    const rolloutId = await pushed('acme/checked', '2');
    const first = await firstBatchScheduled(rolloutId);
    const victim = fleet.find((d) => d.uuid === first[0].device_uuid)!;
    const other = fleet.find((d) => d.uuid === first[1].device_uuid)!;
    const rest = fleet.filter((d) => d !== victim && d !== other);

    // The victim updates; its batch's health checks wait for the other device, which is quiet for now.
    const stopVictim = startPolling([victim], 150);
    await waitForRow(rolloutId, victim.uuid, 'updated');
    await stopVictim();
    // Were it still checked, it would fail (nothing answers) and pause the rollout.
    await victim.stopHealthServer();
    expect((await f.rollout(rolloutId)).rollout.batches[0].health_checks_requested_at).toBeUndefined();

    expect((await f.api('DELETE', `/api/v1/devices/${victim.uuid}`)).status).toBe(204);
    expect(await waitForRow(rolloutId, victim.uuid, 'skipped')).toMatchObject({ batch: 1, error: 'device deleted' });
    cleanups.push(startPolling([other, ...rest], 150));

    const done = await f.waitForStatus(rolloutId, 'completed');
    expect(done.statistics).toMatchObject({ total_devices: 4, healthy: 3, skipped: 1, updated: 0, unhealthy: 0, failures: 0, failure_rate: 0 });
    const events = await f.events(rolloutId);
    expect(events.filter((e) => e.device_uuid === victim.uuid).map((e) => e.type)).toEqual(['image.device_scheduled', 'image.device_updated', 'image.device_skipped']);
    expect(events.find((e) => e.type === 'image.device_skipped').details).toMatchObject({ reason: 'device deleted', was: 'updated', batch: 1 });
    expect(events.filter((e) => e.type === 'image.health_check_passed')).toHaveLength(3);
  });
});
