/**
 * `retry_failed`: a device that fails its update is scheduled again, up to the policy's number of
 * times, before it counts as failed; one that succeeds on a later attempt is no failure of the
 * rollout. Attempts are shown per device and each retry is in the event log.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHost, type Host } from '../../infra/embedded/host';
import { registerFleet, startPolling } from '../../agent/simulator/fleet';
import { expectError } from '../support/api';
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

async function rolloutDevices(id: string): Promise<any[]> {
  const { body } = await f.api('GET', `/api/v1/rollouts/${id}/devices?limit=100`);
  return body.batches.flatMap((b: any) => b.devices);
}

describe('retry_failed', () => {
  it('schedules failed devices again; only what fails every attempt counts, and is rolled back', async () => {
    await f.createPolicy({ image_pattern: 'retry/app:*', update_strategy: 'auto', retry_failed: 2, max_failure_rate: 0.5 });
    const devices = await registerFleet({
      apiUrl: host.url,
      adminKey: host.adminApiKey,
      size: 4,
      image: 'retry/app:1',
      namePrefix: 'retry',
      behaviour: (i) => (i === 0 ? { failUpdate: true } : i === 1 ? { failUpdates: 1 } : {}),
    });
    stops.push(startPolling(devices, 100));
    const id = (await f.push('retry/app', '2')).body.rollouts[0].id;
    const done = await f.waitForStatus(id, 'completed', 60_000);

    expect(done.statistics).toMatchObject({ updated: 3, rolled_back: 1, failed: 0, failures: 1 });
    expect(done.rollout.batches[0].retry_rounds).toBe(2);
    const rows = new Map((await rolloutDevices(id)).map((row) => [row.device_name, row]));
    expect(rows.get('retry-1')).toMatchObject({ status: 'rolled_back', attempts: 3, last_error: expect.stringContaining('failed to start') });
    expect(rows.get('retry-2')).toMatchObject({ status: 'updated', attempts: 2 });
    expect(rows.get('retry-2')).not.toHaveProperty('failed_at');
    expect(rows.get('retry-3')).toMatchObject({ status: 'updated', attempts: 1 });
    expect(devices.map((d) => d.running[0]!.image)).toEqual(['retry/app:1', 'retry/app:2', 'retry/app:2', 'retry/app:2']);

    const retried = (await f.events(id)).filter((e) => e.type === 'image.device_retried');
    const byDevice = (uuid: string) => retried.filter((e) => e.device_uuid === uuid).map((e) => [e.details.attempt, e.details.attempts_allowed]);
    expect(byDevice(devices[0]!.uuid)).toEqual([
      [2, 3],
      [3, 3],
    ]);
    expect(byDevice(devices[1]!.uuid)).toEqual([[2, 3]]);
    expect(retried).toHaveLength(3);
  }, 90_000);

  it('is 0 by default, and at most 3', async () => {
    const policy = await f.createPolicy({ image_pattern: 'retry/default:*' });
    expect(policy.retry_failed).toBe(0);
    expectError(await f.api('POST', '/api/v1/policies', { body: { image_pattern: 'retry/bad:*', retry_failed: 4 } }), 400, 'retry_failed');
    expectError(await f.api('POST', '/api/v1/policies', { body: { image_pattern: 'retry/bad:*', retry_failed: 1.5 } }), 400, 'retry_failed');
  });
});
