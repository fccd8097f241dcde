/**
 * Due times kept to the second (DESIGN §3): a batch delay and an update timeout fire within a
 * second or two of their due time, on the embedded host with the production tick of 30 s, so the
 * tick cannot be what fires them. Bounds are generous for shared machines; the bench prints the
 * exact lateness.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHost, type Host } from '../../infra/embedded/host';
import { registerFleet, startPolling } from '../../agent/simulator/fleet';
import { flow } from '../support/flow';

let host: Host;
let f: ReturnType<typeof flow>;

beforeAll(async () => {
  host = await startHost({ port: 0, dataDir: ':memory:', quiet: true });
  f = flow(host);
});

afterAll(async () => {
  await host?.stop();
});

const lateMs = 2_000;

describe('due times on the 30-second tick', () => {
  it('starts each next batch within ~2 s of its batch delay ending', async () => {
    const devices = await registerFleet({ apiUrl: host.url, adminKey: host.adminApiKey, size: 6, image: 'due/delay:1', namePrefix: 'delay' });
    const stopPolling = startPolling(devices, 150);
    try {
      await f.createPolicy({ image_pattern: 'due/delay:*', update_strategy: 'staged', staged_batches: 3, batch_delay_minutes: 5 / 60 });
      const id = (await f.push('due/delay', '2')).body.rollouts[0].id;
      const done = await f.waitForStatus(id, 'completed', 60_000);
      // Which due time a wake-up went out for is batch-advance's bookkeeping, not the API's.
      expect(done.rollout).not.toHaveProperty('wake_requested_for');
      const events = await f.events(id);
      const completed = events.filter((e) => e.type === 'image.batch_completed');
      expect(completed).toHaveLength(3);
      for (const batch of [2, 3]) {
        const due = completed.find((e) => e.details.batch === batch - 1)!.details.next_batch_due_at;
        expect(due, `batch ${batch - 1} completed with a due time`).toEqual(expect.any(String));
        const started = Date.parse(done.rollout.batches[batch - 1].started_at);
        const lateness = started - Date.parse(due);
        expect(lateness, `batch ${batch} started ${lateness} ms after its due time`).toBeGreaterThanOrEqual(0);
        expect(lateness, `batch ${batch} started ${lateness} ms after its due time`).toBeLessThan(lateMs);
      }
    } finally {
      await stopPolling();
    }
  }, 90_000);

  it('fails silent devices within ~2 s of the update deadline', async () => {
    // Registered, never polling: nothing but the deadline can move them.
    await registerFleet({ apiUrl: host.url, adminKey: host.adminApiKey, size: 3, image: 'due/silent:1', namePrefix: 'silent' });
    await f.createPolicy({ image_pattern: 'due/silent:*', update_strategy: 'auto', update_timeout_minutes: 0.1, max_failure_rate: 1, auto_rollback_enabled: false });
    const id = (await f.push('due/silent', '2')).body.rollouts[0].id;
    const done = await f.waitForStatus(id, 'completed', 60_000);
    expect(done.statistics.failed).toBe(3);
    const deadline = Date.parse(done.rollout.batches[0].deadline_at);
    const failed = (await f.events(id)).filter((e) => e.type === 'image.device_failed');
    expect(failed).toHaveLength(3);
    for (const event of failed) {
      const lateness = Date.parse(event.timestamp) - deadline;
      expect(lateness, `device failed ${lateness} ms after the deadline`).toBeGreaterThanOrEqual(0);
      expect(lateness, `device failed ${lateness} ms after the deadline`).toBeLessThan(lateMs);
    }
  }, 90_000);
});

describe('a rollout that pauses itself after a batch', () => {
  it('records the batch completed, then the pause, with no next batch due; resumed, it starts the next batch at once', async () => {
    const devices = await registerFleet({ apiUrl: host.url, adminKey: host.adminApiKey, size: 4, image: 'due/pause:1', namePrefix: 'pause' });
    for (const device of devices) device.behaviour.failUpdate = true;
    const stopPolling = startPolling(devices, 150);
    try {
      // A batch delay far beyond the test: a next batch that waited for it would never start here.
      await f.createPolicy({ image_pattern: 'due/pause:*', update_strategy: 'staged', staged_batches: 2, batch_delay_minutes: 60, max_failure_rate: 0.2, auto_rollback_enabled: false });
      const id = (await f.push('due/pause', '2')).body.rollouts[0].id;
      const paused = await f.waitForStatus(id, 'paused', 30_000);
      expect(paused.rollout.next_batch_due_at).toBeUndefined();
      const types = (await f.events(id)).map((e) => e.type).filter((t) => t === 'image.batch_completed' || t === 'image.rollout_paused');
      expect(types).toEqual(['image.batch_completed', 'image.rollout_paused']);
      const [completed] = (await f.events(id)).filter((e) => e.type === 'image.batch_completed');
      expect(completed.details.next_batch_due_at).toBeUndefined();

      for (const device of devices) device.behaviour.failUpdate = false;
      const resumedAt = Date.now();
      expect((await f.api('POST', `/api/v1/rollouts/${id}/resume`)).status).toBe(200);
      const next = await f.waitForRollout(id, (d) => d.rollout.batches[1].status !== 'pending', 'batch 2 started', 10_000);
      expect(Date.parse(next.rollout.batches[1].started_at) - resumedAt).toBeLessThan(lateMs);
    } finally {
      await stopPolling();
    }
  }, 60_000);
});
