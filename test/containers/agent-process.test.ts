/**
 * The agent as a device runs it: `dist/fleet-agent.mjs` built by `npm run build:agent`, started
 * with `node` and configured by its environment only, on a device where an operator already runs
 * the app by hand. It provisions itself with a provisioning key (registering the app it finds),
 * is killed with SIGKILL in the middle of an update (the new image pulled, the old container being
 * stopped), and a restart on the same state dir converges: no second registration, the app on
 * the new image with the settings the operator gave it, the rollout completed.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHost, type Host } from '../../infra/embedded/host';
import { labels } from '../../agent/engine';
import { flow } from '../support/flow';
import { waitFor } from '../support/api';
import { startPodman, type Podman } from './support/podman';
import { startRegistry, type Registry } from './support/registry';
import { publishTestImage, type PublishedImage } from './support/test-image';
import { exec, startDaemon, type Daemon } from './support/processes';

const ip = '127.0.79.1';
const bundle = join(process.cwd(), 'dist', 'fleet-agent.mjs');

let host: Host;
let registry: Registry;
let podman: Podman;
let f: ReturnType<typeof flow>;
let v1: PublishedImage;
let stateDir: string;
let agentEnv: NodeJS.ProcessEnv;
let agent: Daemon | undefined;
let uuid: string;

beforeAll(async () => {
  host = await startHost({ port: 0, dataDir: ':memory:', tickSeconds: 1, quiet: true, devicePollIntervalSeconds: 1, devicePollIntervalActiveSeconds: 1 });
  f = flow(host);
  registry = await startRegistry({ webhookUrl: `${host.url}/api/v1/webhooks/distribution`, webhookSecret: host.webhookSecret });
  podman = await startPodman({ insecureRegistries: [registry.host] });
  v1 = await publishTestImage({ podman, registryHost: registry.host, tag: 'v1', variant: 'good', listen: `${ip}:8080` });
  stateDir = await mkdtemp(join(tmpdir(), 'fleet-agent-state-'));
  await exec('npm', ['run', '--silent', 'build:agent'], process.env);
});

afterAll(async () => {
  await agent?.stop();
  await podman?.stop();
  await registry?.stop();
  await host?.stop();
  if (stateDir) await rm(stateDir, { recursive: true, force: true });
});

function startAgent(): Daemon {
  // Only what a systemd EnvironmentFile would hold: nothing of the test runner's environment.
  return startDaemon(process.execPath, [bundle], { PATH: process.env.PATH, ...agentEnv });
}

async function appContainers() {
  const listed = await podman.docker.listContainers({ all: true, filters: { label: [labels.app] } });
  return Promise.all(listed.map((c) => podman.docker.getContainer(c.Id).inspect()));
}

async function health(): Promise<number | undefined> {
  try {
    return (await fetch(`http://${ip}:8080/health`, { signal: AbortSignal.timeout(2_000) })).status;
  } catch {
    return undefined;
  }
}

describe('the bundled agent on a device that already runs its app', () => {
  it('provisions itself with a key and adopts the running container without restarting it', async () => {
    await podman.cli(['pull', v1.reference]);
    // The operator's own container: httpd as PID 1 ignores SIGTERM, so stopping it takes the
    // engine's full 10 s timeout: the window in which the agent is killed below.
    await podman.cli(['run', '-d', '--name', 'kitchen-app', '--label', `${labels.app}=app`, '--network', 'host', '-e', `LISTEN=${ip}:8080`, v1.reference, 'httpd', '-f', '-p', `${ip}:8080`, '-h', '/www']);
    expect(await waitFor(async () => ((await health()) === 200 ? 200 : undefined), 10_000, 'the operator container answering')).toBe(200);
    const [handMade] = await appContainers();

    const created = await f.api('POST', '/api/v1/provisioning-keys', { body: { name: 'kitchen', max_uses: 1 } });
    expect(created.status).toBe(201);
    agentEnv = {
      FLEET_API_URL: host.url,
      FLEET_PROVISIONING_KEY: created.body.key,
      FLEET_DEVICE_NAME: 'kitchen-pi',
      FLEET_STATE_DIR: stateDir,
      DOCKER_HOST: `unix://${podman.socketPath}`,
      FLEET_DEVICE_IP: ip,
    };
    agent = startAgent();

    const device = await waitFor(async () => {
      const { body } = await f.api('GET', '/api/v1/devices');
      const found = (body.devices as any[]).find((d) => d.name === 'kitchen-pi');
      return found?.current_apps?.[0]?.status === 'running' ? found : undefined;
    }, 30_000, 'kitchen-pi registered and reporting');
    uuid = device.uuid;
    expect(device).toMatchObject({ ip_address: ip, target_apps: [{ name: 'app', image: v1.reference }], current_apps: [{ name: 'app', image: v1.reference, status: 'running' }] });
    expect(device.provisioned_by).toBe(created.body.provisioning_key.id);
    // Adopted as it was: same container, still running.
    const [still] = await appContainers();
    expect(still!.Id).toBe(handMade!.Id);
    expect(still!.State.Running).toBe(true);
  });

  it('is killed in the middle of an update and, restarted, finishes it without registering again', async () => {
    await f.createPolicy({
      image_pattern: `${registry.host}/fleet/app:*`,
      update_strategy: 'auto',
      batch_delay_minutes: 0,
      health_check_enabled: true,
      health_check_config: { type: 'http', endpoint: 'http://{device_ip}:8080/health', expectedStatusCode: 200, timeout: 2, retries: 2 },
    });
    const v2 = await publishTestImage({ podman, registryHost: registry.host, tag: 'v2', variant: 'good', listen: `${ip}:8080` });
    const v2Reference = `${registry.host}/fleet/app@${v2.digest}`;

    // The agent pulls before it stops anything: once the new image is on the engine, it is
    // stopping (or about to stop) the old container. Kill it there, as a power cut would.
    await waitFor(async () => ((await podman.docker.getImage(v2Reference).inspect().catch(() => undefined)) ? true : undefined), 30_000, 'the agent pulling v2');
    agent!.child.kill('SIGKILL');
    await agent!.stop();
    const midway = await appContainers();
    expect(midway.map((c) => c.Name.replace(/^\//, ''))).toEqual(['kitchen-app']);
    expect(midway.some((c) => c.Config.Image === v2Reference)).toBe(false);

    agent = startAgent();
    const { body } = await f.api('GET', '/api/v1/rollouts');
    const id = (body.rollouts as any[]).find((r) => JSON.stringify(r).includes('/fleet/app:v2'))!.id;
    const done = await f.waitForStatus(id, 'completed', 90_000).catch(async (error) => {
      const detail = await f.rollout(id);
      throw new Error(`${error.message}\nrollout: ${JSON.stringify({ rollout: detail.rollout, devices: detail.devices })}\nagent:\n${agent!.output()}`);
    });
    expect(done.statistics).toMatchObject({ total_devices: 1, healthy: 1, rolled_back: 0 });

    // What runs, from the engine: one container, the agent's own now, on v2 with the operator's settings.
    const after = await appContainers();
    expect(after).toHaveLength(1);
    const c = after[0]!;
    expect(c.State.Running).toBe(true);
    expect(c.Config.Image).toBe(v2Reference);
    expect(c.Config.Labels).toMatchObject({ [labels.app]: 'app', [labels.device]: uuid, [labels.digest]: v2.digest });
    expect(c.HostConfig.NetworkMode).toBe('host');
    expect(c.Config.Env).toContain(`LISTEN=${ip}:8080`);
    expect(await health()).toBe(200);

    // Restarting never registered twice: one device, one use of the key.
    const devices = (await f.api('GET', '/api/v1/devices')).body.devices as any[];
    expect(devices.filter((d) => d.name === 'kitchen-pi').map((d) => d.uuid)).toEqual([uuid]);
    const keys = (await f.api('GET', '/api/v1/provisioning-keys')).body.provisioning_keys as any[];
    expect(keys.map((k) => k.uses)).toEqual([1]);
    expect(agent.output()).not.toMatch(/provisioned as/);
  });

  it('stops cleanly on SIGTERM', async () => {
    const running = agent!;
    agent = undefined;
    await running.stop();
    expect(running.child.exitCode).toBe(0);
    expect(running.output()).toMatch(/stopped\n$/);
  });
});
