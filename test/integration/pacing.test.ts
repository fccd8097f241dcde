/**
 * The paced scheduler's lease against dynalite (lib/store/pacing.ts), and a paced rollout whose
 * scheduler died right after claiming its group: the rest goes on, the crash costing a group's
 * minute, never a device.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHost, type Host } from '../../infra/embedded/host';
import { registerFleet, startPolling } from '../../agent/simulator/fleet';
import { waitFor } from '../support/api';
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

const at = (seconds: number) => new Date(Date.parse('2026-01-01T12:00:00.000Z') + seconds * 1000).toISOString();

describe('the lease on a rollout\'s PACE item', () => {
  it('is one holder\'s at a time until it runs out, and its own holder takes it up again', async () => {
    const { takePaceLease } = await import('../../lib/store/pacing');
    const id = `ro-lease-${randomUUID()}`;
    expect(await takePaceLease(id, 'a', at(60), at(0))).toMatchObject({ lease_token: 'a', lease_until: at(60), wakes: 0 });
    expect(await takePaceLease(id, 'b', at(70), at(10))).toBeUndefined();
    expect(await takePaceLease(id, 'a', at(80), at(20))).toMatchObject({ lease_token: 'a', lease_until: at(80) });
    expect(await takePaceLease(id, 'b', at(140), at(80))).toMatchObject({ lease_token: 'b' });
  });

  it('notes a wake-up only while the lease is held, and a holder that read before it cannot let go', async () => {
    const { getPace, notePaceWake, takePaceLease, updatePace } = await import('../../lib/store/pacing');
    const id = `ro-wake-${randomUUID()}`;
    // No lease yet: the waker is told to take it itself.
    expect(await notePaceWake(id, at(0))).toBe(false);
    await takePaceLease(id, 'a', at(60), at(0));
    const seen = (await getPace(id)).wakes;
    expect(await notePaceWake(id, at(5))).toBe(true);
    // The holder looked at the counters before the device settled: it must look again.
    expect(await updatePace(id, 'a', { lease_until: at(6) }, seen)).toBe(false);
    expect(await updatePace(id, 'a', { lease_until: at(6) }, seen + 1)).toBe(true);
    expect(await notePaceWake(id, at(7))).toBe(false);
    // Another token never writes the holder's fields.
    expect(await updatePace(id, 'b', { position: { batch: 1, shard: 0, done: true } })).toBe(false);
    expect((await getPace(id)).position).toBeUndefined();
  });
});

describe('a paced scheduler that died right after claiming its group', () => {
  it('is taken over once its lease has run out, and every device is still scheduled within the rate', async () => {
    const clients = await import('../../lib/aws-clients');
    const stack = clients.dynamo().middlewareStack as unknown as {
      add(middleware: unknown, options: { step: 'initialize'; name: string }): void;
      remove(name: string): boolean;
    };
    // The first target a paced schedule sets fails: its invocation dies after the group's claim
    // and the first row's move, and its message stays away for the queue's visibility timeout.
    let failed = false;
    stack.add(
      (next: (args: unknown) => Promise<unknown>, context: { commandName?: string }) => async (args: { input: Record<string, any> }) => {
        if (!failed && context.commandName === 'UpdateItemCommand' && args.input.Key?.sk === 'DEVICE' && /rollouts\.#app = :pointer/.test(String(args.input.UpdateExpression)) && String(args.input.ExpressionAttributeValues?.[':to']).startsWith('pace/crash:')) {
          failed = true;
          throw Object.assign(new Error('Internal server error (test)'), { name: 'InternalServerError', $fault: 'server', $metadata: { httpStatusCode: 500 } });
        }
        return next(args);
      },
      { step: 'initialize', name: 'fail-first-paced-target' },
    );
    const devices = await registerFleet({ apiUrl: host.url, adminKey: host.adminApiKey, size: 4, image: 'pace/crash:1', namePrefix: 'crash' });
    const stop = startPolling(devices, 100);
    try {
      await f.createPolicy({ image_pattern: 'pace/crash:*', update_strategy: 'auto', max_devices_per_minute: 2 });
      const id = (await f.push('pace/crash', '2')).body.rollouts[0].id;
      await waitFor(async () => (failed ? true : undefined), 10_000, 'the first target to fail');
      // Within the dead holder's lease (a minute), the fallback's requests find it held: the
      // device whose target failed waits (the other of the group may have got its target).
      await new Promise((r) => setTimeout(r, 3_000));
      expect((await f.rollout(id)).statistics.updated).toBeLessThanOrEqual(1);
      expect((await f.events(id)).filter((e) => e.type === 'image.device_scheduled').length).toBeLessThanOrEqual(2);
      // Past it, the next request takes over from the saved position; each group a minute later.
      for (let minute = 1; minute <= 3; minute++) {
        host.clock.advance(60_000);
        await waitFor(async () => ((await f.rollout(id)).statistics.updated >= Math.min(4, 2 * minute) ? true : undefined), 15_000, `devices updated after minute ${minute}`);
        if ((await f.rollout(id)).statistics.updated === 4) break;
      }
      const done = await f.waitForStatus(id, 'completed', 30_000);
      expect(done.statistics.updated).toBe(4);
      const scheduled = (await f.events(id)).filter((e) => e.type === 'image.device_scheduled');
      expect(new Set(scheduled.map((e) => e.device_uuid)).size).toBe(4);
      const times = scheduled.map((e) => Date.parse(e.timestamp)).sort((a, b) => a - b);
      for (const start of times) expect(times.filter((t) => t >= start && t < start + 60_000).length).toBeLessThanOrEqual(2);
    } finally {
      stack.remove('fail-first-paced-target');
      await stop();
    }
  }, 90_000);
});
