/**
 * The embedded host keeps its table on disk but its queues in memory: a restart loses every
 * message in flight. A rollout cut off that way must still finish, found again by the tick.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import type { Host } from '../../infra/embedded/host';
import { registerFleet, startPolling } from '../../agent/simulator/fleet';
import { flow } from '../support/flow';

let host: Host | undefined;
let dataDir: string;

afterAll(async () => {
  await host?.stop();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

/** A host in a fresh module registry, as a new process would load it. */
async function startFresh(options: { port: number }): Promise<Host> {
  vi.resetModules();
  const { startHost } = await import('../../infra/embedded/host');
  return startHost({ port: options.port, dataDir, tickSeconds: 1, quiet: true });
}

describe('a restart of the embedded host', () => {
  it('loses the queued messages, and the rollout finishes anyway', async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'fleet-restart-'));
    host = await startFresh({ port: 0 });
    const port = host.port;
    let f = flow(host);
    await f.createPolicy({ image_pattern: 'restart/app:*', batch_percentages: [50, 100], batch_delay_minutes: 0 });
    const devices = await registerFleet({ apiUrl: host.url, adminKey: host.adminApiKey, size: 8, image: 'restart/app:1' });
    const { body } = await f.push('restart/app', '2');
    const id = body.rollouts[0].id;

    // Stopped right after the push: the planning message (here, usually not yet taken) is lost
    // with the queues; the tick finds the unplanned rollout and plans it again.
    await host.stop();
    host = await startFresh({ port });
    f = flow(host);
    const stopPolling = startPolling(devices, 100);
    try {
      const done = await f.waitForStatus(id, 'completed', 45_000);
      expect(done.statistics).toMatchObject({ total_devices: 8, updated: 8, scheduled: 0 });
      expect(devices.every((d) => d.running[0]!.image === 'restart/app:2')).toBe(true);
      const types = (await f.events(id)).map((e) => e.type);
      expect(types.filter((t) => t === 'image.device_scheduled')).toHaveLength(8);
      expect(types.filter((t) => t === 'image.rollout_started')).toHaveLength(1);
    } finally {
      await stopPolling();
    }
  });
});
