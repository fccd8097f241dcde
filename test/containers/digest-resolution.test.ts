/**
 * Docker Hub pushes pinned to a digest, end to end: an embedded host whose Docker Hub look-ups
 * go to a real registry (Debian's `docker-registry`, standing in for registry-1.docker.io), a
 * Docker Hub webhook through its HTTP API, and a simulated fleet. A tag the registry has rolls
 * out as `repo:tag@sha256:…` and stays on that content when the tag moves; a tag it lacks rolls
 * out by tag, and the answer and the event say why. (Private repositories, with a registry's
 * pull credentials: ./pull-credentials.test.ts.)
 */
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerFleet, startPolling, type SimulatedDevice } from '../../agent/simulator/fleet';
import { startHost, type Host } from '../../infra/embedded/host';
import { flow } from '../support/flow';
import { HttpPush } from './support/http-push';
import { startRegistry, type Registry } from './support/registry';

const REGISTRY_BINARY = '/usr/bin/docker-registry';
const absent = !existsSync(REGISTRY_BINARY);
// CI installs it (.ci/run): there, its absence is a failure, never a skip.
if (absent && process.env.CI) throw new Error(`${REGISTRY_BINARY} is absent, and CI installs it (apt-get install docker-registry)`);
if (absent) console.warn(`${REGISTRY_BINARY} is absent (apt-get install docker-registry): the digest-resolution e2e tests are skipped`);

describe.skipIf(absent)('Docker Hub pushes resolved to a digest (embedded host + docker-registry)', () => {
  let registry: Registry;
  let push: HttpPush;
  let host: Host;
  let f: ReturnType<typeof flow>;
  const stops: (() => Promise<void>)[] = [];

  beforeAll(async () => {
    registry = await startRegistry();
    push = new HttpPush(registry.url);
    host = await startHost({ port: 0, dataDir: ':memory:', tickSeconds: 1, quiet: true, dockerHubManifestApiUrl: registry.url });
    f = flow(host);
  });
  afterAll(async () => {
    await Promise.all(stops.map((stop) => stop()));
    await host?.stop();
    await registry?.stop();
  });

  async function fleetOf(size: number, image: string): Promise<SimulatedDevice[]> {
    const devices = await registerFleet({ apiUrl: host.url, adminKey: host.adminApiKey, size, image });
    stops.push(startPolling(devices, 100));
    return devices;
  }

  const webhookReceived = async (rolloutId: string) => (await f.events(rolloutId)).find((e) => e.type === 'image.webhook_received');

  it('pins the tag\'s digest at push time: the fleet ends on that content even after the tag moves', async () => {
    await f.createPolicy({ image_pattern: 'pinned/app:*', update_strategy: 'manual', batch_delay_minutes: 0 });
    const devices = await fleetOf(3, 'pinned/app:v1');
    const pushed = await push.dockerImage('pinned/app', 'v2');

    const answer = await f.push('pinned/app', 'v2');
    expect(answer.status).toBe(202);
    const image = `pinned/app:v2@${pushed.digest}`;
    expect(answer.body.rollouts).toEqual([expect.objectContaining({ image })]);
    expect(answer.body.pushes).toEqual([expect.objectContaining({ repository: 'pinned/app', tag: 'v2', digest: pushed.digest, digest_source: 'resolved' })]);
    expect(answer.body.pushes[0]).not.toHaveProperty('digest_unresolved');
    const id = answer.body.rollouts[0].id;
    expect((await webhookReceived(id)).details).toMatchObject({ registry: 'docker-registry', tag: 'v2', digest: pushed.digest, digest_source: 'resolved' });
    const created = (await f.events(id)).find((e) => e.type === 'image.rollout_created');
    expect(created.details).toMatchObject({ image, digest_source: 'resolved' });

    // v2 is pushed again before the rollout starts: what was pushed when the webhook came is what rolls out.
    const moved = await push.dockerImage('pinned/app', 'v2');
    expect(moved.digest).not.toBe(pushed.digest);
    await f.waitForRollout(id, (d) => d.rollout.planned, 'the rollout planned');
    expect((await f.api('POST', `/api/v1/rollouts/${id}/start`)).status).toBe(200);
    await f.waitForStatus(id, 'completed');
    await f.waitForRollout(id, () => devices.every((d) => d.running[0]!.image === image), `the fleet on ${image}`);
  });

  it('keeps one rollout for copies of one notification, and makes a new one when the tag is pushed again', async () => {
    await f.createPolicy({ image_pattern: 'repush/app:*', update_strategy: 'manual' });
    const first = await push.dockerImage('repush/app', 'latest');
    const pushedAt = Math.floor(Date.now() / 1000);
    const copies = await Promise.all([f.push('repush/app', 'latest', pushedAt), f.push('repush/app', 'latest', pushedAt)]);
    const ids = new Set(copies.map((c) => c.body.rollouts[0].id));
    expect(ids.size).toBe(1);
    expect(copies.map((c) => c.body.rollouts[0].image)).toEqual([`repush/app:latest@${first.digest}`, `repush/app:latest@${first.digest}`]);

    // A later push of the same content (the tag moved away and back) is a push of its own, pinned again.
    const again = await f.push('repush/app', 'latest', pushedAt + 5);
    expect(again.body.rollouts[0].id).not.toBe([...ids][0]);
    expect(again.body.rollouts[0].image).toBe(`repush/app:latest@${first.digest}`);
  });

  it('rolls a tag the registry lacks out by tag, and says why in the answer, the message and the event', async () => {
    await f.createPolicy({ image_pattern: 'pinned/missing:*', update_strategy: 'manual' });
    const answer = await f.push('pinned/missing', 'v3');
    expect(answer.status).toBe(202);
    expect(answer.body.rollouts).toEqual([expect.objectContaining({ image: 'pinned/missing:v3' })]);
    const why = `tag v3 of pinned/missing not found at ${registry.url} (404)`;
    expect(answer.body.pushes).toEqual([expect.objectContaining({ repository: 'pinned/missing', tag: 'v3', digest: null, digest_unresolved: why })]);
    expect(answer.body.pushes[0]).not.toHaveProperty('digest_source');
    expect(answer.body.pushes[0].message).toContain(`by tag, the digest was not resolved: ${why}`);
    const id = answer.body.rollouts[0].id;
    expect((await webhookReceived(id)).details).toMatchObject({ tag: 'v3', digest: null, digest_unresolved: why });
    expect((await f.rollout(id)).rollout.image).toBe('pinned/missing:v3');
  });
});
