/**
 * The tick is the safety net: when a crash lost a count between a device's move and its counter
 * update, the batch would wait for its deadline; the evaluation after the fan-out grace period
 * recounts from the rows and the rollout moves on.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHost, type Host } from '../../infra/embedded/host';
import { registerFleet } from '../../agent/simulator/fleet';
import { fanOutGraceFor } from '../../lib/domain/rollout-progress';
import { flow } from '../support/flow';

let host: Host;
let f: ReturnType<typeof flow>;

beforeAll(async () => {
  // A slow tick, so that only the evaluations this test asks for look for lost work.
  host = await startHost({ port: 0, dataDir: ':memory:', tickSeconds: 30, quiet: true });
  f = flow(host);
});

afterAll(async () => {
  await host?.stop();
});

describe('recovery', () => {
  it('recounts a batch whose count was lost to a crash, and completes it', async () => {
    const { evaluateRollout } = await import('../../lib/rollouts/progress');
    const { transitionRolloutDevice } = await import('../../lib/store/rollout-devices');

    await f.createPolicy({ image_pattern: 'recover/app:*', update_strategy: 'auto', update_timeout_minutes: 60 });
    const devices = await registerFleet({ apiUrl: host.url, adminKey: host.adminApiKey, size: 3, image: 'recover/app:1' });
    const { body } = await f.push('recover/app', '2');
    const id = body.rollouts[0].id;
    await f.waitForRollout(id, (d) => d.statistics.scheduled === 3, 'all scheduled');

    // One device's move is written, but the process dies before counting it.
    const { rollout } = await f.rollout(id);
    const rows = (await f.rollout(id)).devices;
    const lost = rows.find((r: any) => r.device_uuid === devices[0]!.uuid);
    const seq = rollout.batches[0].first_seq + rows.indexOf(lost);
    expect(await transitionRolloutDevice({ rollout_id: id, shard: 0, seq }, ['scheduled'], 'updated', { batch: 1, at: new Date().toISOString() })).toBe('scheduled');
    await Promise.all(devices.slice(1).map((d) => d.poll()));
    await f.waitForRollout(id, (d) => d.statistics.updated === 2 && d.statistics.scheduled === 1, 'the other two counted');

    // Within the grace period nothing is due; after it, the counters are rebuilt from the rows.
    await evaluateRollout(id, new Date());
    expect((await f.rollout(id)).rollout.status).toBe('in_progress');
    const later = new Date(Date.now() + fanOutGraceFor(30) + 1000);
    await evaluateRollout(id, later);
    const done = await f.rollout(id);
    expect(done.rollout.status).toBe('completed');
    expect(done.statistics).toMatchObject({ updated: 3, scheduled: 0 });
  });

  it('moves a batch on only when its rows agree, when a retried write counted a device twice, and recounts the ended rollout', async () => {
    const { evaluateRollout } = await import('../../lib/rollouts/progress');
    const { countTransitions } = await import('../../lib/store/rollout-devices');
    const { fanOutGraceFor: grace } = await import('../../lib/domain/rollout-progress');

    await f.createPolicy({ image_pattern: 'recover/twice:*', update_strategy: 'auto', update_timeout_minutes: 60 });
    const devices = await registerFleet({ apiUrl: host.url, adminKey: host.adminApiKey, size: 3, image: 'recover/twice:1' });
    const id = (await f.push('recover/twice', '2')).body.rollouts[0].id;
    await f.waitForRollout(id, (d) => d.statistics.scheduled === 3, 'all scheduled');

    // The first device's count is applied twice (its UpdateItem happened, answered a 500, and the
    // SDK sent it again): the counters then say a device more is through than the rows do.
    await devices[0]!.poll();
    await f.waitForRollout(id, (d) => d.statistics.updated === 1, 'the first device counted');
    await countTransitions({ rollout_id: id, shard: 0 }, 1, [{ from: 'scheduled', to: 'updated' }]);
    await devices[1]!.poll();
    await f.waitForRollout(id, (d) => d.statistics.updated === 3 && d.statistics.scheduled === 0, 'the counters saying all three are through');

    // The third device is still on its way: the batch waits for it.
    await evaluateRollout(id, new Date());
    expect((await f.rollout(id)).rollout.status).toBe('in_progress');
    await devices[2]!.poll();
    await f.waitForStatus(id, 'completed', 10_000);

    // Once the last moves have settled, the ended rollout's sweep stores counts equal to its rows.
    await new Promise((resolve) => setTimeout(resolve, 5_500));
    await evaluateRollout(id, new Date(Date.now() + grace(30) + 1000));
    const done = await f.waitForRollout(id, (d) => d.rollout.sweep === undefined, 'the sweep closed', 10_000);
    expect(done.statistics).toMatchObject({ total_devices: 3, updated: 3, scheduled: 0 });
    expect(done.rollout.batches[0].counts).toMatchObject({ updated: 3, scheduled: 0 });
  });
});
