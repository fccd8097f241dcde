/**
 * The whole loop on real containers: four device agents (agent/agent.ts with the dockerode
 * DockerEngine) on one private Podman, an embedded host, and a real registry whose push
 * notifications start rollouts. A good push rolls out staged and health-checked to every device;
 * a broken one fails its first batch's health check, that device is rolled back, and the rollout
 * pauses at the failure rate. What runs is read from the engine, never from the agents' reports.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHost, type Host } from '../../infra/embedded/host';
import { Agent } from '../../agent/agent';
import { DockerEngine } from '../../agent/docker-engine';
import { labels } from '../../agent/engine';
import { DeviceClient } from '../../agent/protocol';
import { MemoryStateStore } from '../../agent/state-store';
import { flow } from '../support/flow';
import { waitFor } from '../support/api';
import { startPodman, type Podman } from './support/podman';
import { startRegistry, type Registry } from './support/registry';
import { publishTestImage, type PublishedImage } from './support/test-image';

const DEVICES = 4;
const ip = (n: number) => `127.0.78.${n + 1}`;

let host: Host;
let registry: Registry;
let podman: Podman;
let engine: DockerEngine;
let f: ReturnType<typeof flow>;
let v1: PublishedImage;
let v2: PublishedImage;
/** Each device's container id once v2 rolled out. */
let v2Ids: Map<string, string>;
const uuids: string[] = [];
const stop = new AbortController();
const runs: Promise<void>[] = [];

beforeAll(async () => {
  host = await startHost({ port: 0, dataDir: ':memory:', tickSeconds: 1, quiet: true, devicePollIntervalSeconds: 1, devicePollIntervalActiveSeconds: 1 });
  f = flow(host);
  registry = await startRegistry({ webhookUrl: `${host.url}/api/v1/webhooks/distribution`, webhookSecret: host.webhookSecret });
  podman = await startPodman({ insecureRegistries: [registry.host] });
  engine = new DockerEngine(`unix://${podman.socketPath}`);
  v1 = await publishTestImage({ podman, registryHost: registry.host, tag: 'v1', variant: 'good', listen: '127.0.78.250:8080' });
});

afterAll(async () => {
  stop.abort();
  await Promise.all(runs);
  await podman?.stop();
  await registry?.stop();
  await host?.stop();
});

/** The container of each device, as the engine inspects it. */
async function containers() {
  const listed = await podman.docker.listContainers({ all: true, filters: { label: [labels.app] } });
  const inspected = await Promise.all(listed.map((c) => podman.docker.getContainer(c.Id).inspect()));
  return new Map(inspected.map((c) => [c.Config.Labels[labels.device]!, c]));
}

/** Each device's container: running, exactly one, created from `registry/fleet/app@digest`. */
async function runningDigests(): Promise<Map<string, string | undefined>> {
  const byDevice = await containers();
  return new Map(
    uuids.map((uuid) => {
      const c = byDevice.get(uuid);
      const digest = c?.State.Running ? c.Config.Image.split('@')[1] : undefined;
      return [uuid, digest];
    }),
  );
}

async function waitForDigests(want: (uuid: string) => string, what: string, timeoutMs = 30_000) {
  return waitFor(async () => {
    const running = await runningDigests();
    return uuids.every((uuid) => running.get(uuid) === want(uuid)) ? running : undefined;
  }, timeoutMs, what);
}

async function health(n: number): Promise<number> {
  return waitFor(async () => {
    try {
      return (await fetch(`http://${ip(n)}:8080/health`, { signal: AbortSignal.timeout(2_000) })).status;
    } catch {
      return undefined; // httpd may not be listening yet
    }
  }, 10_000, `${ip(n)} answering`);
}

async function rolloutFor(tag: string): Promise<string> {
  return waitFor(async () => {
    const { body } = await f.api('GET', '/api/v1/rollouts');
    const found = (body.rollouts as any[]).find((r) => JSON.stringify(r).includes(`/fleet/app:${tag}`));
    return found?.id as string | undefined;
  }, 20_000, `the rollout of fleet/app:${tag}`);
}

async function devicesOf(id: string): Promise<any[]> {
  const { body } = await f.api('GET', `/api/v1/rollouts/${id}/devices?limit=100`);
  return (body.batches as any[]).flatMap((batch) => batch.devices);
}

describe('four agents on real containers through pushes to a real registry', () => {
  it('start the v1 containers themselves on their first poll', async () => {
    for (let n = 0; n < DEVICES; n++) {
      const registered = await f.api('POST', '/api/v1/devices', {
        body: {
          name: `podman-${n}`,
          ip_address: ip(n),
          apps: [{ name: 'app', image: `${v1.reference}@${v1.digest}`, container: { network_mode: 'host', env: { LISTEN: `${ip(n)}:8080` } } }],
        },
      });
      expect(registered.status).toBe(201);
      const uuid: string = registered.body.device.uuid;
      uuids.push(uuid);
      const agent = new Agent({
        uuid,
        client: new DeviceClient({ apiUrl: host.url, uuid, token: registered.body.device_token }),
        engine,
        store: new MemoryStateStore(),
        ipAddress: ip(n),
        settleMs: 500,
        defaultPollSeconds: 1,
      });
      runs.push(agent.run(stop.signal));
    }
    await waitForDigests(() => v1.digest, 'every device running v1', 60_000);
    for (let n = 0; n < DEVICES; n++) expect(await health(n)).toBe(200);
  });

  it('roll a good push out staged and health-checked to every device, as the engine shows', async () => {
    await f.createPolicy({
      image_pattern: `${registry.host}/fleet/app:*`,
      update_strategy: 'staged',
      batch_percentages: [25, 100],
      batch_delay_minutes: 0,
      health_check_enabled: true,
      health_check_config: { type: 'http', endpoint: 'http://{device_ip}:8080/health', expectedStatusCode: 200, timeout: 2, retries: 1 },
      max_failure_rate: 0.3,
    });
    v2 = await publishTestImage({ podman, registryHost: registry.host, tag: 'v2', variant: 'good', listen: '127.0.78.250:8080' });
    const id = await rolloutFor('v2');
    const done = await f.waitForStatus(id, 'completed', 60_000);
    expect(done.statistics).toMatchObject({ total_devices: DEVICES, healthy: DEVICES, rolled_back: 0 });

    const byDevice = await containers();
    expect(byDevice.size).toBe(DEVICES);
    const v2Image = await podman.docker.getImage(`${registry.host}/fleet/app@${v2.digest}`).inspect();
    for (const [n, uuid] of uuids.entries()) {
      const c = byDevice.get(uuid)!;
      expect(c.State.Running).toBe(true);
      expect(c.Config.Image).toBe(`${registry.host}/fleet/app@${v2.digest}`);
      expect(c.Image).toBe(v2Image.Id);
      expect(c.Config.Labels[labels.digest]).toBe(v2.digest);
      expect(c.Config.Env).toContain(`LISTEN=${ip(n)}:8080`);
      expect(c.HostConfig.NetworkMode).toBe('host');
      expect(await health(n)).toBe(200);
    }

    v2Ids = new Map([...byDevice].map(([uuid, c]) => [uuid, c.Id]));
  });

  it('roll a broken push back on its first batch and pause at the failure rate', async () => {
    const v3 = await publishTestImage({ podman, registryHost: registry.host, tag: 'v3', variant: 'broken', listen: '127.0.78.250:8080' });
    const broken = await rolloutFor('v3');
    const paused = await f.waitForStatus(broken, 'paused', 60_000);
    expect(paused.rollout.status_reason).toMatch(/failure rate 100\.0% exceeds the policy's maximum of 30\.0%/);
    expect(paused.rollout.batches.map((b: any) => b.status)).toEqual(['completed', 'pending']);
    expect(paused.statistics).toMatchObject({ rolled_back: 1, healthy: 0, failure_rate: 1 });

    const rows = await devicesOf(broken);
    const first = rows.filter((r) => r.status === 'rolled_back');
    expect(first).toHaveLength(1);
    expect(first[0].error).toMatch(/404/);
    const failed = first[0].device_uuid as string;
    const checks = (await f.events(broken)).filter((e) => e.type === 'image.health_check_failed');
    expect(checks.map((e) => e.device_uuid)).toEqual([failed]);

    // The rolled-back device runs v2 again (its agent replaced the broken container); the rest never left it.
    const running = await waitForDigests(() => v2.digest, 'the rolled-back device back on v2', 30_000);
    expect([...running.values()].every((d) => d === v2.digest && d !== v3.digest)).toBe(true);
    const after = await containers();
    for (const uuid of uuids) expect(after.get(uuid)!.Id === v2Ids.get(uuid)).toBe(uuid !== failed);
    for (let n = 0; n < DEVICES; n++) expect(await health(n)).toBe(200);
  });
});
