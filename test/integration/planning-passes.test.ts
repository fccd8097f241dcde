/**
 * Planning with a batch order goes over the repository's devices once per group, so it is cut
 * short and raced in ways a single pass is not: an attempt that died mid-pass leaves rows the
 * attempt that saves drops, the state between passes lives on the rollout, and a device relabelled
 * between two passes is recorded twice, whose second row must not fail (and roll back) a device
 * that updated. Planning runs here through the same functions the handlers use.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerFleet, startPolling } from '../../agent/simulator/fleet';
import { startHost, type Host } from '../../infra/embedded/host';
import { Budget } from '../../lib/queues/budget';
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

describe('planning pass by pass', () => {
  it('keeps the pass under way on the rollout, and drops the rows an attempt cut short left', async () => {
    const { newRollout } = await import('../../lib/rollouts/create-rollouts');
    const { planPages } = await import('../../lib/rollouts/plan');
    const { createRollout } = await import('../../lib/store/rollouts');
    const { getRolloutDevice, putRolloutDevices } = await import('../../lib/store/rollout-devices');
    const policy = await f.createPolicy({ image_pattern: 'passes/app:*', update_strategy: 'manual', batch_order: [{ ring: 'canary' }] });
    const fleet = await registerFleet({ apiUrl: host.url, adminKey: host.adminApiKey, size: 3, image: 'passes/app:1', labels: (i) => (i === 2 ? { ring: 'canary' } : undefined) });
    const push = { registry: 'docker-registry', repository: 'passes/app', tag: '2', pushed_at: new Date().toISOString(), delivery_id: 'passes-2' };
    const { rollout } = await createRollout(newRollout(push, policy, new Date()));
    // An attempt wrote four rows and died before saving; the attempts that save find three devices.
    const row = { rollout_id: rollout.id, device_name: 'x', batch: null, status: 'pending' as const, previous_image: 'passes/app:1', new_image: rollout.image, updated_at: new Date().toISOString(), shard: 0 };
    await putRolloutDevices([0, 1, 2, 3].map((seq) => ({ ...row, device_uuid: `gone-${seq}`, app: 'main', seq })));

    // One page per invocation: the first pass (the canaries) ends, and the rollout says the next begins.
    const onePage = new Budget(() => 0);
    const afterFirstPass = await planPages(rollout.id, 0, new Date(), onePage);
    expect(afterFirstPass?.planning).toEqual({ done: false, assigned: 1, group: 1 });
    // The message it handed the rest to plans the second pass; a repeat of the first command changes nothing.
    const planned = await f.waitForRollout(rollout.id, (d) => d.rollout.planned, 'planned');
    expect(await planPages(rollout.id, 0, new Date())).toBeUndefined();
    expect(planned.rollout.total_devices).toBe(3);
    const rows = await Promise.all([0, 1, 2, 3].map((seq) => getRolloutDevice({ rollout_id: rollout.id, shard: 0, seq })));
    expect(rows[0]?.device_uuid).toBe(fleet[2]!.uuid);
    expect(rows.slice(1, 3).map((r) => r?.device_uuid).sort()).toEqual([fleet[0]!.uuid, fleet[1]!.uuid].sort());
    expect(rows[3]).toBeUndefined();
  });

  it('skips the second row of a device relabelled between two passes, and the device keeps the image the first gave it', async () => {
    const { normaliseRepository } = await import('../../lib/registry');
    const { keys } = await import('../../lib/store/keys');
    const { dynamo } = await import('../../lib/aws-clients');
    await f.createPolicy({ image_pattern: 'passes/relabel:*', batch_percentages: [50, 100], batch_delay_minutes: 0, update_timeout_minutes: 0.1, batch_order: [{ ring: 'canary' }] });
    const fleet = await registerFleet({ apiUrl: host.url, adminKey: host.adminApiKey, size: 2, image: 'passes/relabel:1', labels: (i) => (i === 0 ? { ring: 'canary' } : undefined) });
    const [canary, other] = fleet;

    // Right before the second pass reads its first page, an admin relabels the canary: the second pass takes it too.
    const membersPk = keys.repositoryPk(normaliseRepository('passes/relabel'));
    let memberPages = 0;
    const stack = dynamo().middlewareStack as unknown as { add(middleware: unknown, options: { step: 'initialize'; name: string }): void; remove(name: string): boolean };
    stack.add(
      (next: (args: unknown) => Promise<unknown>, context: { commandName?: string }) => async (args: { input: Record<string, any> }) => {
        const input = args.input;
        if (context.commandName === 'QueryCommand' && input.ExpressionAttributeValues?.[':pk'] === membersPk && input.Select !== 'COUNT' && ++memberPages === 2) {
          expect((await f.api('PATCH', `/api/v1/devices/${canary!.uuid}`, { body: { labels: { ring: 'stable' } } })).status).toBe(200);
        }
        return next(args);
      },
      { step: 'initialize', name: 'relabel-between-passes' },
    );
    const stop = startPolling(fleet, 100);
    try {
      const id = (await f.push('passes/relabel', '2')).body.rollouts[0].id;
      const done = await f.waitForStatus(id, 'completed', 30_000);
      expect(memberPages).toBe(2);
      expect(done.rollout.total_devices).toBe(3);
      const rows = done.devices.filter((d: any) => d.device_uuid === canary!.uuid);
      expect(rows.map((r: any) => r.status).sort()).toEqual(['skipped', 'updated']);
      expect(rows.find((r: any) => r.status === 'skipped').error).toMatch(/is in this rollout twice \(its labels changed while the rollout was planned\)/);
      expect(done.devices.find((d: any) => d.device_uuid === other!.uuid)).toMatchObject({ status: 'updated' });
      // Left scheduled, the second row would have failed the device at the update timeout and rolled it back.
      const events = (await f.events(id)).map((e) => e.type);
      expect(events).not.toContain('image.device_rolled_back');
      expect(canary!.running[0]!.image).toBe('passes/relabel:2');
      expect((await f.rollout(id)).statistics).toMatchObject({ failures: 0 });
    } finally {
      stack.remove('relabel-between-passes');
      await stop();
    }
  });
});
