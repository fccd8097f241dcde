/**
 * The real-container rig, end to end through the Docker Engine API (dockerode, as the agent uses
 * it) on a private Podman: an image pushed to a real registry notifies a webhook, pulls by tag,
 * runs on the host network at its own 127.x address, answers (or fails) its health check, is
 * found by the agent's labels, and stops and goes.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPodman, type Podman } from './support/podman';
import { startRegistry, type Registry } from './support/registry';
import { publishTestImage, type PublishedImage } from './support/test-image';

const SECRET = 'test-webhook-secret';
const APP_LABEL = 'io.fleet-rollout.app';
const DEVICE_LABEL = 'io.fleet-rollout.device';

interface Delivery {
  authorization: string | undefined;
  contentType: string | undefined;
  body: { events: Array<Record<string, any>> };
}

/** Stands in for the embedded host's POST /api/v1/webhooks/distribution. */
function startWebhookReceiver(): Promise<{ server: Server; url: string; deliveries: Delivery[] }> {
  const deliveries: Delivery[] = [];
  const read = async (request: IncomingMessage) => {
    let text = '';
    for await (const chunk of request) text += chunk;
    return text;
  };
  const server = createServer((request, response) => {
    void read(request).then((text) => {
      deliveries.push({
        authorization: request.headers.authorization,
        contentType: request.headers['content-type'],
        body: JSON.parse(text),
      });
      response.writeHead(200).end();
    });
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      resolve({ server, url: `http://127.0.0.1:${port}/api/v1/webhooks/distribution`, deliveries });
    }),
  );
}

async function eventually<T>(probe: () => T | undefined, what: string, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function healthStatus(address: string): Promise<number> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      return (await fetch(`http://${address}/health`, { signal: AbortSignal.timeout(2_000) })).status;
    } catch (error) {
      // httpd may not be listening yet right after start.
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

describe('containers through the Docker Engine API on podman', () => {
  let receiver: Awaited<ReturnType<typeof startWebhookReceiver>>;
  let registry: Registry;
  let podman: Podman;
  let good: PublishedImage;
  let broken: PublishedImage;

  beforeAll(async () => {
    receiver = await startWebhookReceiver();
    registry = await startRegistry({ webhookUrl: receiver.url, webhookSecret: SECRET });
    podman = await startPodman({ insecureRegistries: [registry.host] });
    good = await publishTestImage({ podman, registryHost: registry.host, tag: 'v1', variant: 'good', listen: '127.0.77.1:8080' });
    broken = await publishTestImage({ podman, registryHost: registry.host, tag: 'v2-broken', variant: 'broken', listen: '127.0.77.2:8080' });
  });

  afterAll(async () => {
    await podman?.stop();
    await registry?.stop();
    receiver?.server.close();
  });

  it('notifies the webhook of a tagged manifest push, with the bearer secret', async () => {
    const push = await eventually(
      () =>
        receiver.deliveries
          .flatMap((delivery) => delivery.body.events.map((event) => ({ delivery, event })))
          .find(({ event }) => event.action === 'push' && event.target?.tag === 'v1'),
      'the push notification of fleet/app:v1',
    );
    expect(push.delivery.authorization).toBe(`Bearer ${SECRET}`);
    expect(push.delivery.contentType).toMatch(/^application\/vnd\.docker\.distribution\.events\.v\d\+json/);
    expect(push.event.target).toMatchObject({
      repository: 'fleet/app',
      tag: 'v1',
      digest: good.digest,
      mediaType: expect.stringMatching(/manifest/),
    });
    expect(push.event.request?.host).toBe(registry.host);
  });

  it('pulls by tag, and the engine reports the digest the registry stored', async () => {
    const { docker } = podman;
    await expect(docker.getImage(good.reference).inspect()).rejects.toMatchObject({ statusCode: 404 });
    await new Promise<void>((resolve, reject) =>
      docker.pull(good.reference, (error: Error | null, stream: NodeJS.ReadableStream) => {
        if (error) return reject(error);
        docker.modem.followProgress(stream, (failure: Error | null) => (failure ? reject(failure) : resolve()));
      }),
    );
    const image = await docker.getImage(good.reference).inspect();
    const [name] = good.reference.split(':v1');
    expect(image.RepoDigests).toContain(`${name}@${good.digest}`);
  });

  it('runs the good image on the host network: labelled, healthy, stopped and removed', async () => {
    const { docker } = podman;
    const container = await docker.createContainer({
      name: 'fleet-app-good',
      Image: good.reference,
      Labels: { [APP_LABEL]: 'app', [DEVICE_LABEL]: 'device-good' },
      HostConfig: { NetworkMode: 'host' },
    });
    await container.start();
    expect(await healthStatus('127.0.77.1:8080')).toBe(200);
    expect(await (await fetch('http://127.0.77.1:8080/health')).text()).toBe('ok');

    const listed = await docker.listContainers({ filters: { label: [`${APP_LABEL}=app`] } });
    expect(listed.map((c) => c.Labels[DEVICE_LABEL])).toEqual(['device-good']);
    expect(listed[0]).toMatchObject({ Id: container.id, State: 'running' });

    const startedStop = Date.now();
    await container.stop({ t: 10 });
    // The image's entrypoint handles SIGTERM, so stopping does not wait out the timeout.
    expect(Date.now() - startedStop).toBeLessThan(5_000);
    expect((await container.inspect()).State.Running).toBe(false);
    await container.remove();
    expect(await docker.listContainers({ all: true, filters: { label: [`${APP_LABEL}=app`] } })).toEqual([]);
  });

  it('runs the broken image: it answers, but /health is 404', async () => {
    const { docker } = podman;
    await docker.getImage(broken.reference).inspect().catch(async () => {
      const stream = await docker.pull(broken.reference);
      await new Promise((resolve, reject) => docker.modem.followProgress(stream, (e) => (e ? reject(e) : resolve(null))));
    });
    const container = await docker.createContainer({
      name: 'fleet-app-broken',
      Image: broken.reference,
      // The address is the image's default; LISTEN overrides it, as each simulated device needs.
      Env: ['LISTEN=127.0.77.3:8080'],
      Labels: { [APP_LABEL]: 'app', [DEVICE_LABEL]: 'device-broken' },
      HostConfig: { NetworkMode: 'host' },
    });
    await container.start();
    expect(await healthStatus('127.0.77.3:8080')).toBe(404);
    await container.remove({ force: true });
  });
});
