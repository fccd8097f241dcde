/**
 * The device agent itself (agent/agent.ts over agent/protocol.ts) against the embedded host: three
 * agents sharing one simulated engine follow a staged rollout to `completed`, each replacing only
 * its own container and reporting the digest it runs and the target version it acted on.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHost, type Host } from '../../infra/embedded/host';
import { Agent } from '../../agent/agent';
import { containerName, labels } from '../../agent/engine';
import { DeviceClient } from '../../agent/protocol';
import { SimulatedEngine, SimulatedRegistry } from '../../agent/simulated-engine';
import { MemoryStateStore } from '../../agent/state-store';
import { flow } from '../support/flow';

let host: Host;
let f: ReturnType<typeof flow>;

beforeAll(async () => {
  // Agents follow the server's poll hint; short hints keep the test quick.
  host = await startHost({ port: 0, dataDir: ':memory:', tickSeconds: 1, quiet: true, devicePollIntervalSeconds: 1, devicePollIntervalActiveSeconds: 1 });
  f = flow(host);
});

afterAll(async () => {
  await host?.stop();
});

describe('three device agents through a staged rollout', () => {
  it('ends with every agent running the new image and the rollout completed', async () => {
    const registry = new SimulatedRegistry();
    const engine = new SimulatedEngine(registry);
    const stop = new AbortController();
    const uuids: string[] = [];
    const runs: Promise<void>[] = [];
    for (let i = 0; i < 3; i++) {
      const registered = await f.api('POST', '/api/v1/devices', { body: { name: `agent-${i}`, ip_address: `127.0.2.${i + 1}`, apps: [{ name: 'web', image: 'agents/web:1' }] } });
      expect(registered.status).toBe(201);
      const uuid: string = registered.body.device.uuid;
      uuids.push(uuid);
      engine.seed({ name: containerName(uuid, 'web'), image: 'agents/web:1', settings: {}, labels: { [labels.app]: 'web', [labels.device]: uuid, [labels.image]: 'agents/web:1' } });
      const agent = new Agent({
        uuid,
        client: new DeviceClient({ apiUrl: host.url, uuid, token: registered.body.device_token }),
        engine,
        store: new MemoryStateStore(),
        ipAddress: `127.0.2.${i + 1}`,
        settleMs: 0,
        defaultPollSeconds: 0.15,
      });
      runs.push(agent.run(stop.signal));
    }
    try {
      const policy = await f.api('POST', '/api/v1/policies', {
        body: { image_pattern: 'agents/web:*', update_strategy: 'staged', staged_batches: 3, batch_delay_minutes: 0.01, update_timeout_minutes: 5 },
      });
      expect(policy.status).toBe(201);
      const accepted = await f.push('agents/web', '2');
      expect(accepted.status).toBe(202);
      const rolloutId = accepted.body.rollouts[0].id;
      const done = await f.waitForStatus(rolloutId, 'completed');
      expect(done.statistics).toMatchObject({ total_devices: 3, updated: 3, failed: 0 });

      const digest = registry.resolve('agents/web:2');
      const containers = engine.snapshot();
      expect(containers).toHaveLength(3);
      for (const uuid of uuids) {
        expect(containers.filter((c) => c.labels[labels.device] === uuid)).toEqual([
          expect.objectContaining({ name: containerName(uuid, 'web'), image: 'agents/web:2', state: 'running', labels: expect.objectContaining({ [labels.digest]: digest }) }),
        ]);
        const device = await f.api('GET', `/api/v1/devices/${uuid}`);
        expect(device.body.device.current_apps).toEqual([{ name: 'web', image: 'agents/web:2', status: 'running', digest }]);
      }
    } finally {
      stop.abort();
      await Promise.all(runs);
    }
  });
});
