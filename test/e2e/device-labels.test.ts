/**
 * Device labels and policy targeting (issue 12), through the HTTP API on the embedded host:
 * labels set at registration (admin and provisioning), changed with PATCH /devices/{uuid} as a
 * merge patch, reported by agents (also by a device item from before labels, which has no label
 * map), the device list filtered by label page by page; a policy's device_selector limiting its
 * rollouts to matching devices, and its batch_order putting canaries in the first batch and betas
 * in the next, also over more devices than one planning page.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerFleet, startPolling, type SimulatedDevice } from '../../agent/simulator/fleet';
import { startHost, type Host } from '../../infra/embedded/host';
import { expectError, waitFor, type ApiResult } from '../support/api';
import { flow } from '../support/flow';

let host: Host;
let f: ReturnType<typeof flow>;

beforeAll(async () => {
  host = await startHost({ port: 0, dataDir: ':memory:', tickSeconds: 1, quiet: true });
  f = flow(host);
});

afterAll(async () => {
  await host?.stop();
});

const apps = (image: string) => [{ name: 'main', image }];

async function register(body: Record<string, unknown>) {
  const created = await f.api('POST', '/api/v1/devices', { body });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  return created.body as { device: any; device_token: string };
}

async function device(uuid: string) {
  const read = await f.api('GET', `/api/v1/devices/${uuid}`);
  expect(read.status).toBe(200);
  return read.body.device;
}

const patch = (uuid: string, body: unknown) => f.api('PATCH', `/api/v1/devices/${uuid}`, { body });

/** Every page of `GET /devices` with this query, and how many pages it took. */
async function listAll(query: string): Promise<{ devices: any[]; pages: number }> {
  const devices: any[] = [];
  let pages = 0;
  let cursor: string | null = null;
  do {
    const page: ApiResult = await f.api('GET', `/api/v1/devices?${query}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
    expect(page.status, JSON.stringify(page.body)).toBe(200);
    devices.push(...page.body.devices);
    cursor = page.body.next_cursor;
    pages++;
  } while (cursor);
  return { devices, pages };
}

/** The rollout's devices by batch number, every page of `GET /rollouts/{id}/devices`. */
async function devicesByBatch(id: string): Promise<Map<number, string[]>> {
  const batches = new Map<number, string[]>();
  let cursor: string | null = null;
  do {
    const page: ApiResult = await f.api('GET', `/api/v1/rollouts/${id}/devices?limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
    expect(page.status).toBe(200);
    for (const batch of page.body.batches) batches.set(batch.number, [...(batches.get(batch.number) ?? []), ...batch.devices.map((d: any) => d.device_uuid)]);
    cursor = page.body.next_cursor;
  } while (cursor);
  return batches;
}

/** Makes the device item what a device registered before labels were kept looks like: no label map at all. */
async function dropLabelMap(uuid: string): Promise<void> {
  const { UpdateCommand } = await import('@aws-sdk/lib-dynamodb');
  const { dynamo } = await import('../../lib/aws-clients');
  const { keys } = await import('../../lib/store/keys');
  const { tableName } = await import('../../lib/store/table');
  await dynamo().send(new UpdateCommand({ TableName: tableName(), Key: keys.device(uuid), UpdateExpression: 'REMOVE labels' }));
  const { getStoredDevice } = await import('../../lib/store/devices');
  expect((await getStoredDevice(uuid, true))!.labels).toBeUndefined();
}

const sorted = (values: string[]) => [...values].sort();

describe('labels at registration', () => {
  it('keeps the labels an admin registers a device with, and shows {} for a device without', async () => {
    const { device: labelled } = await register({ name: 'pi-labelled', apps: apps('labels/app:1'), labels: { ring: 'canary', site: 'berlin' } });
    expect(labelled.labels).toEqual({ ring: 'canary', site: 'berlin' });
    expect((await device(labelled.uuid)).labels).toEqual({ ring: 'canary', site: 'berlin' });
    const { device: bare } = await register({ name: 'pi-bare', apps: apps('labels/app:1') });
    expect(bare.labels).toEqual({});
    // A device item from before labels were kept is shown the same way.
    await dropLabelMap(bare.uuid);
    expect((await device(bare.uuid)).labels).toEqual({});
  });

  it('refuses bad labels with a 400 naming each, and registers nothing', async () => {
    const uuid = `bad-labels-${randomUUID()}`;
    const refused = await f.api('POST', '/api/v1/devices', { body: { uuid, name: 'pi', apps: apps('labels/app:1'), labels: { 'Ring!': 'x', site: 'bad value' } } });
    expectError(refused, 400, 'labels.Ring! is not a label key', 'labels.site must be');
    const proto = await f.api('POST', '/api/v1/devices', { rawBody: JSON.stringify({ uuid, name: 'pi', apps: apps('labels/app:1') }).replace(/}$/, ',"labels":{"__proto__":"x"}}') });
    expectError(proto, 400, 'labels.__proto__ is not a label key');
    expectError(await f.api('GET', `/api/v1/devices/${uuid}`), 404);
  });

  it('keeps the labels a device provisions itself with', async () => {
    const created = await f.api('POST', '/api/v1/provisioning-keys', { body: { name: 'labels' } });
    expect(created.status).toBe(201);
    const provisioned = await f.api('POST', '/api/v1/devices/provision', { token: created.body.key, body: { name: 'self', apps: apps('labels/app:1'), labels: { ring: 'beta' } } });
    expect(provisioned.status, JSON.stringify(provisioned.body)).toBe(201);
    expect(provisioned.body.device.labels).toEqual({ ring: 'beta' });
    expect((await device(provisioned.body.device.uuid)).labels).toEqual({ ring: 'beta' });
    const refused = await f.api('POST', '/api/v1/devices/provision', { token: created.body.key, body: { uuid: `prov-${randomUUID()}`, name: 'self', apps: apps('labels/app:1'), labels: { ring: '-x' } } });
    expectError(refused, 400, 'labels.ring must be');
  });
});

describe('PATCH /api/v1/devices/{uuid}', () => {
  it('changes the name, the IP address and the labels as a merge patch', async () => {
    const { device: created } = await register({ name: 'pi-patch', ip_address: '127.0.0.2', apps: apps('labels/app:1'), labels: { ring: 'canary', site: 'berlin', tier: '1' } });
    const changed = await patch(created.uuid, { name: 'pi-renamed', ip_address: '127.0.0.3', labels: { ring: 'beta', site: null, zone: 'eu-1', absent: null } });
    expect(changed.status, JSON.stringify(changed.body)).toBe(200);
    expect(changed.body.device).toMatchObject({ uuid: created.uuid, name: 'pi-renamed', ip_address: '127.0.0.3', labels: { ring: 'beta', tier: '1', zone: 'eu-1' } });
    expect(Object.keys(changed.body.device.labels).sort()).toEqual(['ring', 'tier', 'zone']);
    expect(await device(created.uuid)).toEqual(changed.body.device);

    // One field alone leaves the others; the target state does not move.
    const named = await patch(created.uuid, { name: 'pi-3' });
    expect(named.body.device).toMatchObject({ name: 'pi-3', ip_address: '127.0.0.3', labels: { ring: 'beta', tier: '1', zone: 'eu-1' }, target_version: created.target_version });
    const unaddressed = await patch(created.uuid, { ip_address: null, labels: {} });
    expect(unaddressed.body.device).toMatchObject({ name: 'pi-3', ip_address: null, labels: { ring: 'beta', tier: '1', zone: 'eu-1' } });
  });

  it('gives labels to a device item that has no label map', async () => {
    const { device: created } = await register({ name: 'pi-old', apps: apps('labels/app:1') });
    await dropLabelMap(created.uuid);
    const changed = await patch(created.uuid, { labels: { ring: 'canary', gone: null } });
    expect(changed.status, JSON.stringify(changed.body)).toBe(200);
    expect(changed.body.device.labels).toEqual({ ring: 'canary' });
    expect((await patch(created.uuid, { labels: { site: 'berlin' } })).body.device.labels).toEqual({ ring: 'canary', site: 'berlin' });
  });

  it('keeps what the device reported and the target state', async () => {
    const [sim] = await registerFleet({ apiUrl: host.url, adminKey: host.adminApiKey, size: 1, image: 'labels/kept:1', namePrefix: 'kept' });
    await sim!.poll();
    const before = await device(sim!.uuid);
    expect(before.current_apps).toEqual([expect.objectContaining({ name: 'main', image: 'labels/kept:1', status: 'running' })]);
    const changed = await patch(sim!.uuid, { labels: { ring: 'canary' } });
    expect(changed.body.device).toMatchObject({ current_apps: before.current_apps, reported_at: before.reported_at, target_apps: before.target_apps, target_version: before.target_version });
  });

  it('answers 404 for an unknown device and 400 for a bad body, writing nothing', async () => {
    expectError(await patch(`nobody-${randomUUID()}`, { name: 'x' }), 404, 'not found');
    const { device: created } = await register({ name: 'pi-kept', ip_address: '127.0.0.4', apps: apps('labels/app:1'), labels: { ring: 'canary' } });
    const before = await device(created.uuid);
    expectError(await patch(created.uuid, {}), 400, 'body must have at least one of name, ip_address, labels');
    expectError(await patch(created.uuid, { labels: { ring: 'beta', 'Bad Key': 'x' } }), 400, 'labels.Bad Key is not a label key');
    expectError(await patch(created.uuid, { name: 'new', labels: { ring: '-x' } }), 400, 'labels.ring must be');
    expectError(await patch(created.uuid, { name: 'new', ip_address: 'not-an-ip' }), 400, 'ip_address');
    expectError(await patch(created.uuid, { name: 'new', target_apps: [] }), 400, 'target_apps is not a known field');
    expectError(await patch(created.uuid, { name: '' }), 400, 'name');
    const many = Object.fromEntries(Array.from({ length: 32 }, (_, i) => [`k${i}`, 'v']));
    expectError(await patch(created.uuid, { labels: many }), 400, 'labels would give the device 33 labels; it may have at most 32');
    expectError(await f.api('PATCH', `/api/v1/devices/${created.uuid}`, { rawBody: '{"labels":{"__proto__":"x"}}' }), 400, 'labels.__proto__ is not a label key');
    expect(await device(created.uuid)).toEqual(before);
  });
});

describe('labels an agent reports', () => {
  it('merges the reported labels into those an admin set, report after report', async () => {
    const [sim] = await registerFleet({
      apiUrl: host.url,
      adminKey: host.adminApiKey,
      size: 1,
      image: 'labels/reported:1',
      labels: () => ({ site: 'berlin', ring: 'stable' }),
      agentLabels: () => ({ ring: 'canary', hw: 'pi4' }),
    });
    await sim!.poll();
    expect((await device(sim!.uuid)).labels).toEqual({ site: 'berlin', ring: 'canary', hw: 'pi4' });
    // An admin's change of a key the agent does not report stays; one it reports is set again.
    await patch(sim!.uuid, { labels: { site: 'paris', hw: 'pi5' } });
    await sim!.report([{ name: 'main', image: 'labels/reported:1', status: 'running' }], undefined, { hw: 'pi4' });
    expect((await device(sim!.uuid)).labels).toEqual({ site: 'paris', ring: 'canary', hw: 'pi4' });
  });

  it('records the labels of a device whose item has no label map, and its report too', async () => {
    const [sim] = await registerFleet({ apiUrl: host.url, adminKey: host.adminApiKey, size: 1, image: 'labels/legacy:1', agentLabels: () => ({ ring: 'canary' }) });
    await dropLabelMap(sim!.uuid);
    await sim!.poll();
    const read = await device(sim!.uuid);
    expect(read.labels).toEqual({ ring: 'canary' });
    expect(read.current_apps).toEqual([expect.objectContaining({ image: 'labels/legacy:1', status: 'running' })]);
  });

  it('settles a rollout with the report of a device that has no label map', async () => {
    await f.createPolicy({ image_pattern: 'labels/legacy-rollout:*', update_strategy: 'auto', batch_delay_minutes: 0, update_timeout_minutes: 5 });
    const [sim] = await registerFleet({ apiUrl: host.url, adminKey: host.adminApiKey, size: 1, image: 'labels/legacy-rollout:1', agentLabels: () => ({ ring: 'canary' }) });
    await dropLabelMap(sim!.uuid);
    const id = (await f.push('labels/legacy-rollout', '2')).body.rollouts[0].id;
    await f.waitForRollout(id, (d) => d.devices[0]?.status === 'scheduled', 'the device scheduled');
    // Its report moves its row and drops its rollout pointer in the write that creates its label map.
    await sim!.poll();
    const done = await f.waitForStatus(id, 'completed', 30_000);
    expect(done.devices[0]).toMatchObject({ device_uuid: sim!.uuid, status: 'updated' });
    const read = await device(sim!.uuid);
    expect(read).toMatchObject({ labels: { ring: 'canary' }, active_rollouts: {} });
  });

  it('records labels reported with a device as read that has no map while the item has one, and with a moved pointer', async () => {
    const { getStoredDevice, recordCurrentState } = await import('../../lib/store/devices');
    const { device: created } = await register({ name: 'pi-stale', apps: apps('labels/app:1'), labels: { site: 'berlin' } });
    const stale = { uuid: created.uuid, labels: undefined };
    const at = new Date().toISOString();
    const state = { apps: [{ name: 'main', image: 'labels/app:1', status: 'running' }], error: null, labels: { ring: 'canary' } };
    // The whole-map write finds a map there; the write key by key follows.
    const recorded = await recordCurrentState(stale, state, at);
    expect(recorded.labels).toEqual({ site: 'berlin', ring: 'canary' });
    // A settled pointer that is no longer there: nothing is written, whichever way the labels go.
    await dropLabelMap(created.uuid);
    expect(await recordCurrentState(stale, { ...state, labels: { ring: 'beta' } }, at, [{ app: 'main', rollout_id: 'ro-none' }])).toBeUndefined();
    expect((await getStoredDevice(created.uuid, true))!.labels).toBeUndefined();
  });

  it('refuses a report with bad labels, or one that would give the device more than 32, and records nothing', async () => {
    const { device: created, device_token } = await register({ name: 'pi-full', apps: apps('labels/refused:1'), labels: Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`k${i}`, 'v'])) });
    const report = (labels: Record<string, string>) =>
      f.api('PATCH', `/api/v1/devices/${created.uuid}/state`, { token: device_token, body: { apps: [{ name: 'main', image: 'labels/refused:1', status: 'running' }], labels } });
    expectError(await report({ 'no spaces': 'x' }), 400, 'labels.no spaces is not a label key');
    expectError(await report({ a: '1', b: '2', c: '3' }), 400, 'labels would give the device 33 labels');
    expect(await device(created.uuid)).toEqual(created);
    // Keys it has already do not count twice.
    expect((await report({ k0: 'w', k1: 'w', a: '1', b: '2' })).status).toBe(200);
    const after = await device(created.uuid);
    expect(Object.keys(after.labels)).toHaveLength(32);
    expect(after.labels).toMatchObject({ k0: 'w', k1: 'w', k2: 'v', a: '1', b: '2' });
  });
});

describe('GET /api/v1/devices?label=', () => {
  it('lists only the devices with every label asked for, page by page', async () => {
    const suite = `filter-${Date.now()}`;
    const fleet = await registerFleet({
      apiUrl: host.url,
      adminKey: host.adminApiKey,
      size: 9,
      image: 'labels/listed:1',
      concurrency: 3,
      labels: (i) => ({ suite, ring: i % 3 === 0 ? 'canary' : 'stable', site: i < 5 ? 'berlin' : 'paris' }),
    });
    const uuids = (pick: (i: number) => boolean) => sorted(fleet.filter((_, i) => pick(i)).map((d) => d.uuid));

    const canaries = await listAll(`label=suite:${suite}&label=ring:canary&limit=2`);
    expect(sorted(canaries.devices.map((d) => d.uuid))).toEqual(uuids((i) => i % 3 === 0));
    expect(canaries.devices.every((d) => d.labels.ring === 'canary')).toBe(true);
    // The filter is applied to each page as read: more pages than matches, some of them short.
    expect(canaries.pages).toBeGreaterThan(2);

    const berlinStable = await listAll(`label=suite:${suite}&label=site:berlin&label=ring:stable&limit=3`);
    expect(sorted(berlinStable.devices.map((d) => d.uuid))).toEqual(uuids((i) => i < 5 && i % 3 !== 0));
    expect((await listAll(`label=suite:${suite}&label=ring:nothing`)).devices).toEqual([]);
    const all = await listAll(`label=suite:${suite}&limit=200`);
    expect(sorted(all.devices.map((d) => d.uuid))).toEqual(uuids(() => true));
  });

  it('refuses a malformed filter with a 400 naming it', async () => {
    expectError(await f.api('GET', '/api/v1/devices?label=ring'), 400, 'label "ring" must be key:value');
    expectError(await f.api('GET', '/api/v1/devices?label=Ring!:x'), 400, 'label "Ring!:x": the key must be');
    expectError(await f.api('GET', '/api/v1/devices?label=ring:a%20b'), 400, 'the value must be');
    expectError(await f.api('GET', '/api/v1/devices?label=ring:canary&label=ring:beta'), 400, 'ring is asked for twice');
  });
});

describe('a policy with a device_selector', () => {
  it("reaches only the matching devices; the others keep their image and are not in the rollout's devices", async () => {
    const fleet = await registerFleet({ apiUrl: host.url, adminKey: host.adminApiKey, size: 6, image: 'labels/selected:1', labels: (i) => ({ site: i % 2 === 0 ? 'berlin' : 'paris' }) });
    const berlin = fleet.filter((_, i) => i % 2 === 0);
    const paris = fleet.filter((_, i) => i % 2 === 1);
    const policy = await f.createPolicy({ image_pattern: 'labels/selected:*', update_strategy: 'auto', batch_delay_minutes: 0, device_selector: { site: 'berlin' } });
    expect(policy.device_selector).toEqual({ site: 'berlin' });
    expect(policy.batch_order).toEqual([]);
    const stop = startPolling(fleet, 100);
    try {
      const id = (await f.push('labels/selected', '2')).body.rollouts[0].id;
      const done = await f.waitForStatus(id, 'completed');
      expect(done.rollout.policy).toMatchObject({ device_selector: { site: 'berlin' }, batch_order: [] });
      expect(done.statistics.total_devices).toBe(3);
      expect(sorted([...(await devicesByBatch(id)).values()].flat())).toEqual(sorted(berlin.map((d) => d.uuid)));
      for (const d of berlin) expect(d.running[0]!.image).toBe('labels/selected:2');
      for (const d of paris) {
        expect(d.running[0]!.image).toBe('labels/selected:1');
        expect((await device(d.uuid)).target_apps[0].image).toBe('labels/selected:1');
      }
    } finally {
      await stop();
    }
  });
});

describe('a policy with a batch_order', () => {
  let fleet: SimulatedDevice[];
  const ring = (i: number) => (i === 7 ? 'canary' : i === 2 || i === 5 ? 'beta' : 'stable');

  beforeAll(async () => {
    fleet = await registerFleet({ apiUrl: host.url, adminKey: host.adminApiKey, size: 10, image: 'labels/ordered:1', labels: (i) => ({ ring: ring(i) }) });
  });

  it('puts the canary in batch 1 and the betas in batch 2, and schedules them in that order', async () => {
    await f.createPolicy({
      image_pattern: 'labels/ordered:*',
      batch_percentages: [10, 30, 100],
      batch_delay_minutes: 0,
      batch_order: [{ ring: 'canary' }, { ring: 'beta' }],
    });
    const stop = startPolling(fleet, 100);
    try {
      const id = (await f.push('labels/ordered', '2')).body.rollouts[0].id;
      const done = await f.waitForStatus(id, 'completed');
      expect(done.rollout.policy).toMatchObject({ device_selector: {}, batch_order: [{ ring: 'canary' }, { ring: 'beta' }] });
      expect(done.rollout.batches.map((b: any) => b.size)).toEqual([1, 2, 7]);
      const uuidsOf = (r: string) => sorted(fleet.filter((_, i) => ring(i) === r).map((d) => d.uuid));
      const batches = await devicesByBatch(id);
      expect(batches.get(1)).toEqual(uuidsOf('canary'));
      expect(sorted(batches.get(2)!)).toEqual(uuidsOf('beta'));
      expect(sorted(batches.get(3)!)).toEqual(uuidsOf('stable'));

      const scheduled = (await f.events(id)).filter((e) => e.type === 'image.device_scheduled').map((e) => e.device_uuid);
      const ringOf = new Map(fleet.map((d, i) => [d.uuid, ring(i)]));
      expect(scheduled.map((uuid) => ringOf.get(uuid))).toEqual(['canary', 'beta', 'beta', ...Array(7).fill('stable')]);
      for (const d of fleet) expect(d.running[0]!.image).toBe('labels/ordered:2');
    } finally {
      await stop();
    }
  });
});

describe('a batch_order over more devices than one planning page', () => {
  it('plans every canary first and every beta next, over 250 devices, pass by pass and page by page', async () => {
    const size = 250;
    const ring = (i: number) => (i % 25 === 3 ? 'canary' : i % 25 === 16 ? 'beta' : i % 5 === 0 ? 'stable' : undefined);
    const fleet = await registerFleet({
      apiUrl: host.url,
      adminKey: host.adminApiKey,
      size,
      image: 'labels/large:1',
      concurrency: 8,
      namePrefix: 'large',
      labels: (i) => ({ fleet: 'large', ...(ring(i) ? { ring: ring(i)! } : {}) }),
    });
    await f.createPolicy({
      image_pattern: 'labels/large:*',
      update_strategy: 'manual',
      batch_percentages: [4, 8, 100],
      device_selector: { fleet: 'large' },
      batch_order: [{ ring: 'canary' }, { ring: 'beta' }],
    });
    const id = (await f.push('labels/large', '2')).body.rollouts[0].id;
    const planned = await f.waitForRollout(id, (d) => d.rollout.planned, 'planned', 60_000);
    expect(planned.rollout.total_devices).toBe(size);
    expect(planned.rollout.batches.map((b: any) => b.size)).toEqual([10, 10, 230]);
    const uuidsOf = (pick: (i: number) => boolean) => sorted(fleet.filter((_, i) => pick(i)).map((d) => d.uuid));
    const batches = await devicesByBatch(id);
    expect(sorted(batches.get(1)!)).toEqual(uuidsOf((i) => ring(i) === 'canary'));
    expect(sorted(batches.get(2)!)).toEqual(uuidsOf((i) => ring(i) === 'beta'));
    expect(sorted(batches.get(3)!)).toEqual(uuidsOf((i) => ring(i) !== 'canary' && ring(i) !== 'beta'));
    // Every device once: no pass took a device of another group.
    expect(new Set([...batches.values()].flat()).size).toBe(size);
    expect((await f.api('POST', `/api/v1/rollouts/${id}/cancel`, { body: { reason: 'test done' } })).status).toBe(200);
    await waitFor(async () => ((await f.rollout(id)).rollout.status === 'cancelled' ? true : undefined), 10_000, 'cancelled');
  });
});
