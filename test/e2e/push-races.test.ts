/**
 * Pushes that race (DESIGN §6, invariant 8): copies of one webhook arriving together, one tag
 * pushed twice within a second, moving tags, policies that overlap. However they race, every
 * device ends on the newest pushed image (or the one it was rolled back to), and a rollout that
 * says `completed` has every one of its devices on its image.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHost, type Host } from '../../infra/embedded/host';
import { registerFleet, SimulatedRegistry, startPolling, type SimulatedDevice } from '../../agent/simulator/fleet';
import { waitFor } from '../support/api';
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

const dockerHub = () => `/api/v1/webhooks/docker-registry?token=${encodeURIComponent(host.webhookSecret)}`;

async function fleetOf(size: number, image: string, registry?: SimulatedRegistry) {
  const devices = await registerFleet({ apiUrl: host.url, adminKey: host.adminApiKey, size, image, ...(registry ? { registry } : {}) });
  stops.push(startPolling(devices, 100));
  return devices;
}

/** A Distribution notification of a tagged manifest push with its digest. */
function distributionPush(repository: string, tag: string, digest: string) {
  return {
    events: [
      {
        id: randomUUID(),
        timestamp: new Date().toISOString(),
        action: 'push',
        target: { mediaType: 'application/vnd.oci.image.manifest.v1+json', repository, tag, digest },
        request: { host: 'registry.test:5000' },
      },
    ],
  };
}

/** Every row of a completed rollout is on its image, and so is every device of the fleet. */
async function expectFleetOn(rolloutId: string, devices: SimulatedDevice[], image: string, digest?: string) {
  const done = await f.waitForStatus(rolloutId, 'completed', 30_000).catch(async (error) => {
    const detail = await f.rollout(rolloutId);
    console.log(JSON.stringify({ rollout: detail.rollout, statistics: detail.statistics, devices: detail.devices }, null, 1));
    console.log(JSON.stringify(devices.map((d) => d.running)));
    throw error;
  });
  const rows = (await f.api('GET', `/api/v1/rollouts/${rolloutId}/devices?limit=500`)).body.batches.flatMap((b: any) => b.devices);
  expect(rows.every((r: any) => r.status === 'updated'), JSON.stringify(rows.map((r: any) => r.status))).toBe(true);
  await f.waitForRollout(rolloutId, () => devices.every((d) => d.running[0]!.image === image && (!digest || d.running[0]!.digest === digest)), `the fleet on ${image}`);
  return done;
}

describe('racing pushes', () => {
  it('makes one rollout of twenty copies of one webhook arriving together', async () => {
    await f.createPolicy({ image_pattern: 'dup/c2:*', update_strategy: 'manual' });
    await fleetOf(2, 'dup/c2:v1');
    const body = JSON.stringify({ repository: { repo_name: 'dup/c2' }, push_data: { tag: 'v2' } });
    const answers = await Promise.all(Array.from({ length: 20 }, () => f.api('POST', dockerHub(), { token: null, rawBody: body })));
    expect(answers.map((a) => a.status)).toEqual(Array(20).fill(202));
    const ids = new Set(answers.map((a) => a.body.rollouts[0]?.id));
    expect(ids.size).toBe(1);
    const listed = (await f.api('GET', '/api/v1/rollouts?image_name=dup/c2')).body.rollouts;
    expect(listed).toHaveLength(1);
    const events = await f.events(listed[0].id);
    expect(events.filter((e) => e.type === 'image.webhook_received')).toHaveLength(1);
    expect(events.filter((e) => e.type === 'image.rollout_created')).toHaveLength(1);
  });

  it('hands devices over when one tag is pushed twice within a second: the fleet ends on the second push', async () => {
    await f.createPolicy({ image_pattern: 'race/same-tag:*', batch_percentages: [30, 100], batch_delay_minutes: 0 });
    const registry = new SimulatedRegistry();
    const devices = await fleetOf(10, 'race/same-tag:v1', registry);
    registry.push('race/same-tag:v2');
    const pushedAt = Math.floor(Date.now() / 1000);
    const first = (await f.push('race/same-tag', 'v2', pushedAt)).body.rollouts[0].id;
    await f.waitForRollout(first, (d) => d.statistics.updated > 0, 'the first push reaching devices');
    const second = registry.push('race/same-tag:v2');
    const newer = (await f.push('race/same-tag', 'v2', pushedAt + 1)).body.rollouts[0].id;
    expect(newer).not.toBe(first);

    const done = await expectFleetOn(newer, devices, 'race/same-tag:v2', second);
    expect(done.statistics.total_devices).toBe(10);
    const superseded = await f.rollout(first);
    expect(superseded.rollout.status).toBe('cancelled');
    expect(superseded.rollout.status_reason).toMatch(`superseded by rollout ${newer}`);
    expect(superseded.rollout.batches.map((b: any) => b.status)).not.toContain('in_progress');
  });

  it('rolls a re-pushed tag with no digest back past the earlier push of it, to what ran before both', async () => {
    await f.createPolicy({ image_pattern: 'race/no-digest:*', update_strategy: 'auto', batch_delay_minutes: 0 });
    const devices = await fleetOf(4, 'race/no-digest:v1');
    const pushedAt = Math.floor(Date.now() / 1000);
    const first = (await f.push('race/no-digest', 'v2', pushedAt)).body.rollouts[0].id;
    await f.waitForRollout(first, (d) => d.statistics.updated > 0, 'the first push reaching devices');
    const newer = (await f.push('race/no-digest', 'v2', pushedAt + 1)).body.rollouts[0].id;
    await f.waitForStatus(newer, 'completed');
    // Returning to "race/no-digest:v2" (the first push, which nothing tells apart) would change nothing.
    const done = await f.rollout(newer);
    expect(done.devices.map((r: any) => r.previous_image)).toEqual(Array(4).fill('race/no-digest:v1'));
    expect((await f.api('POST', `/api/v1/rollouts/${newer}/rollback-all`, { body: {} })).status).toBe(200);
    await f.waitForRollout(newer, () => devices.every((d) => d.running[0]!.image === 'race/no-digest:v1'), 'the fleet back on v1');
  });

  it('never starts an older push notified after a newer one was rolled back', async () => {
    await f.createPolicy({ image_pattern: 'race/after-rollback:*', update_strategy: 'manual' });
    await f.createPolicy({ image_pattern: 'race/after-rollback-auto:*', update_strategy: 'auto', batch_delay_minutes: 0 });
    const devices = [...(await fleetOf(2, 'race/after-rollback:1')), ...(await fleetOf(2, 'race/after-rollback-auto:1'))];
    const now = Math.floor(Date.now() / 1000);
    for (const repository of ['race/after-rollback', 'race/after-rollback-auto']) {
      const newer = (await f.push(repository, '3', now + 5)).body.rollouts[0].id;
      await f.waitForRollout(newer, (d) => d.rollout.planned, 'the newer push planned');
      if (repository === 'race/after-rollback') expect((await f.api('POST', `/api/v1/rollouts/${newer}/start`)).status).toBe(200);
      expect((await f.api('POST', `/api/v1/rollouts/${newer}/rollback-all`, { body: { reason: 'bad build' } })).status).toBe(200);
      // The older push's notification arrives late.
      const older = (await f.push(repository, '2', now)).body.rollouts[0].id;
      if (repository === 'race/after-rollback') {
        await f.waitForRollout(older, (d) => d.rollout.planned, 'the older push planned');
        const start = await f.api('POST', `/api/v1/rollouts/${older}/start`);
        expect(start.status).toBe(409);
        expect(start.body.error.message).toMatch(`a newer push of ${repository} has started rollout ${newer}`);
      } else {
        const cancelled = await f.waitForStatus(older, 'cancelled');
        expect(cancelled.rollout.status_reason).toBe(`superseded by rollout ${newer} (${repository}:3)`);
      }
    }
    await new Promise((r) => setTimeout(r, 500));
    expect(devices.map((d) => d.running[0]!.image)).toEqual(['race/after-rollback:1', 'race/after-rollback:1', 'race/after-rollback-auto:1', 'race/after-rollback-auto:1']);
  });

  it('lets the newest push win whatever order its webhooks arrive in', async () => {
    await f.createPolicy({ image_pattern: 'race/out-of-order:*', update_strategy: 'auto', batch_delay_minutes: 0 });
    const devices = await fleetOf(6, 'race/out-of-order:1');
    const now = Math.floor(Date.now() / 1000);
    // :3 was pushed after :2, but its notification comes first.
    const newer = (await f.push('race/out-of-order', '3', now + 5)).body.rollouts[0].id;
    const older = (await f.push('race/out-of-order', '2', now)).body.rollouts[0].id;
    await expectFleetOn(newer, devices, 'race/out-of-order:3');
    const late = await f.waitForStatus(older, 'cancelled');
    expect(late.rollout.status_reason).toMatch(`superseded by rollout ${newer}`);
  });

  it('leaves the fleet on the newest push when an older push is notified after it completed', async () => {
    await f.createPolicy({ image_pattern: 'race/late:*', update_strategy: 'auto', batch_delay_minutes: 0 });
    const devices = await fleetOf(4, 'race/late:1');
    const now = Math.floor(Date.now() / 1000);
    const newer = (await f.push('race/late', '3', now + 5)).body.rollouts[0].id;
    await expectFleetOn(newer, devices, 'race/late:3');
    const late = (await f.push('race/late', '2', now)).body.rollouts[0].id;
    const done = await f.waitForStatus(late, 'cancelled');
    expect(done.rollout.status_reason).toBe(`superseded by rollout ${newer} (race/late:3)`);
    await new Promise((r) => setTimeout(r, 500));
    expect(devices.every((d) => d.running[0]!.image === 'race/late:3')).toBe(true);
  });
});

describe('moving tags', () => {
  it('moves devices on latest again when latest is pushed again without a digest (Docker Hub)', async () => {
    await f.createPolicy({ image_pattern: 'tags/hub:latest', update_strategy: 'auto', batch_delay_minutes: 0 });
    const registry = new SimulatedRegistry();
    const devices = await fleetOf(4, 'tags/hub:latest', registry);
    await waitFor(async () => (devices.every((d) => d.reports > 0) ? true : undefined), 10_000, 'every device reporting what it runs');
    const before = await Promise.all(devices.map(async (d) => (await f.api('GET', `/api/v1/devices/${d.uuid}`)).body.device.target_version));
    const fresh = registry.push('tags/hub:latest');
    const id = (await f.push('tags/hub', 'latest')).body.rollouts[0].id;
    const done = await expectFleetOn(id, devices, 'tags/hub:latest', fresh);
    expect(done.statistics).toMatchObject({ total_devices: 4, updated: 4 });
    const after = await Promise.all(devices.map(async (d) => (await f.api('GET', `/api/v1/devices/${d.uuid}`)).body.device.target_version));
    after.forEach((version, i) => expect(version).toBeGreaterThan(before[i]));
  });

  it('pins the digest the registry names, and rolling back returns the previous digest', async () => {
    const repository = 'tags/dist';
    const image = `registry.test:5000/${repository}`;
    await f.createPolicy({ image_pattern: `${image}:*`, update_strategy: 'auto', batch_delay_minutes: 0 });
    const registry = new SimulatedRegistry();
    const oldDigest = registry.push(`${image}:stable`);
    const devices = await fleetOf(3, `${image}:stable@${oldDigest}`, registry);
    const digest = `sha256:${randomBytes(32).toString('hex')}`;
    const answer = await f.api('POST', '/api/v1/webhooks/distribution', { token: host.webhookSecret, body: distributionPush(repository, 'stable', digest) });
    expect(answer.status).toBe(202);
    const id = answer.body.rollouts[0].id;
    expect(answer.body.rollouts[0].image).toBe(`${image}:stable@${digest}`);
    await expectFleetOn(id, devices, `${image}:stable@${digest}`, digest);

    const rolledBack = await f.api('POST', `/api/v1/rollouts/${id}/rollback-all`, { body: { reason: 'bad build' } });
    expect(rolledBack.status).toBe(200);
    await f.waitForRollout(id, () => devices.every((d) => d.running[0]!.digest === oldDigest), 'the fleet back on the previous digest');
    expect(devices.every((d) => d.running[0]!.image === `${image}:stable@${oldDigest}`)).toBe(true);
  });

  it('rolls a moving tag back to the content the device ran before, pinned by its digest', async () => {
    await f.createPolicy({ image_pattern: 'tags/pin:*', update_strategy: 'auto', batch_delay_minutes: 0 });
    const registry = new SimulatedRegistry();
    const oldDigest = registry.push('tags/pin:edge');
    const devices = await fleetOf(2, 'tags/pin:edge', registry);
    await waitFor(async () => (devices.every((d) => d.reports > 0) ? true : undefined), 10_000, 'every device reporting what it runs');
    const newDigest = registry.push('tags/pin:edge');
    const id = (await f.push('tags/pin', 'edge')).body.rollouts[0].id;
    const done = await expectFleetOn(id, devices, 'tags/pin:edge', newDigest);
    expect(done.statistics).toMatchObject({ total_devices: 2, updated: 2 });
    expect(done.devices.map((r: any) => r.previous_image)).toEqual([`tags/pin:edge@${oldDigest}`, `tags/pin:edge@${oldDigest}`]);
    await f.api('POST', `/api/v1/rollouts/${id}/rollback-all`, { body: {} });
    await f.waitForRollout(id, () => devices.every((d) => d.running[0]!.digest === oldDigest), 'the fleet back on the old content');
  });
});

describe('overlapping policies', () => {
  it('gives a push one rollout, by priority, then the more specific pattern, and names the policies passed over', async () => {
    const broad = await f.createPolicy({ name: 'broad', image_pattern: 'overlap/**', update_strategy: 'manual' });
    const specific = await f.createPolicy({ name: 'specific', image_pattern: 'overlap/app:v*', update_strategy: 'manual' });
    const urgent = await f.createPolicy({ name: 'urgent', image_pattern: 'overlap/app:*', update_strategy: 'manual', priority: 10 });
    await fleetOf(1, 'overlap/app:v1');

    const first = await f.push('overlap/app', 'v2');
    expect(first.body.rollouts).toHaveLength(1);
    expect(first.body.rollouts[0].policy_id).toBe(urgent.id);
    expect(first.body.pushes[0]).toMatchObject({
      repository: 'overlap/app',
      tag: 'v2',
      policy: { id: urgent.id, name: 'urgent', priority: 10 },
      passed_over_policies: [expect.objectContaining({ id: specific.id }), expect.objectContaining({ id: broad.id })],
    });
    const created = (await f.events(first.body.rollouts[0].id)).find((e) => e.type === 'image.rollout_created');
    expect(created.details.policy.id).toBe(urgent.id);
    expect(created.details.passed_over_policies.map((p: any) => p.id)).toEqual([specific.id, broad.id]);

    // Without the urgent one, the more specific pattern wins over the older, broader one.
    expect((await f.api('DELETE', `/api/v1/policies/${urgent.id}`)).status).toBe(204);
    const second = await f.push('overlap/app', 'v3');
    expect(second.body.rollouts.map((r: any) => r.policy_id)).toEqual([specific.id]);
    expect(second.body.pushes[0].passed_over_policies.map((p: any) => p.id)).toEqual([broad.id]);
  });

  it('answers a push nothing matches with the image as understood and why nothing rolls out', async () => {
    const answer = await f.api('POST', dockerHub(), { token: null, body: { repository: { repo_name: 'library/unmatched' }, push_data: { tag: 'v9' } } });
    expect(answer.status).toBe(202);
    expect(answer.body.rollouts).toEqual([]);
    expect(answer.body.pushes).toEqual([
      expect.objectContaining({ repository: 'unmatched', tag: 'v9', digest: null, rollout_id: null, message: expect.stringMatching(/no enabled policy matches unmatched:v9/) }),
    ]);
  });
});
