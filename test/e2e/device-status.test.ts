/**
 * `GET /api/v1/devices?status=…` and the `status` every device view carries, through the HTTP API
 * on the embedded host: a device that never reported is offline, one that reported is online, one
 * whose report had an error shows it, one a rollout waits on is updating, and one silent for 30
 * minutes (the clock moved) is offline again.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerFleet } from '../../agent/simulator/fleet';
import { startHost, type Host } from '../../infra/embedded/host';
import { expectError, waitFor } from '../support/api';
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

const listed = async (status: string) => ((await f.api('GET', `/api/v1/devices?status=${status}&limit=200`)).body.devices as any[]).map((d) => d.uuid).sort();

describe('device status', () => {
  it('is derived from the last report and filters the listing', async () => {
    const [silent, fine, broken] = await registerFleet({ apiUrl: host.url, adminKey: host.adminApiKey, size: 3, image: 'acme/status:1', namePrefix: 'status' });
    const [moving] = await registerFleet({ apiUrl: host.url, adminKey: host.adminApiKey, size: 1, image: 'acme/status-move:1', namePrefix: 'status-move' });
    await fine!.poll();
    await broken!.report([{ name: 'main', image: 'acme/status:1', status: 'exited' }], 'container main exited with code 1');
    await moving!.poll();
    await f.createPolicy({ image_pattern: 'acme/status-move:*', update_strategy: 'auto', batch_delay_minutes: 0, update_timeout_minutes: 30 });
    const accepted = await f.push('acme/status-move', '2');
    // Scheduled, and its agent has not polled since: the rollout waits to hear from it.
    await waitFor(async () => ((await f.api('GET', `/api/v1/devices/${moving!.uuid}`)).body.device.status === 'updating' ? true : undefined), 30_000, 'device updating');
    expect((await f.rollout(accepted.body.rollouts[0].id)).rollout.status).toBe('in_progress');
    const { body } = await f.api('GET', `/api/v1/devices/${silent!.uuid}`);
    expect(body.device.status).toBe('offline');

    expect(await listed('offline')).toEqual([silent!.uuid]);
    expect(await listed('error')).toEqual([broken!.uuid]);
    expect(await listed('online')).toEqual([fine!.uuid]);
    expect(await listed('updating')).toEqual([moving!.uuid]);

    await host.clock.advance(31 * 60_000);
    expect(await listed('offline')).toEqual([silent!.uuid, fine!.uuid, broken!.uuid, moving!.uuid].sort());
    expect(await listed('online')).toEqual([]);
  });

  it('refuses a status there is not, naming those there are, and a second one', async () => {
    expectError(await f.api('GET', '/api/v1/devices?status=asleep'), 400, 'status must be one of online, offline, updating, error');
    expectError(await f.api('GET', '/api/v1/devices?status=online&status=offline'), 400, 'status must be given at most once');
  });
});
