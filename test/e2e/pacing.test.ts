/**
 * Pacing a rollout (lib/rollouts/pacing.ts), end to end on the embedded host with simulated
 * devices: `max_devices_per_minute` holds across a moved clock, `max_unavailable` holds at every
 * point of the event log, and failures that fill the budget end the batch instead of hanging it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHost, type Host } from '../../infra/embedded/host';
import { registerFleet, startPolling } from '../../agent/simulator/fleet';
import { flow } from '../support/flow';
import { waitFor } from '../support/api';

let host: Host;
let f: ReturnType<typeof flow>;

beforeAll(async () => {
  // A short tick: after the clock moves, batch-advance's fallback asks the scheduler to go on
  // within seconds (the scheduler's own hand-on is an SQS delay in real seconds).
  host = await startHost({ port: 0, dataDir: ':memory:', quiet: true, tickSeconds: 1 });
  f = flow(host);
});

afterAll(async () => {
  await host?.stop();
});

const ofType = (events: any[], type: string) => events.filter((e) => e.type === type);

/** The largest number of `times` (ms) in any half-open window of `spanMs`. */
function densest(times: number[], spanMs: number): number {
  const sorted = [...times].sort((a, b) => a - b);
  let most = 0;
  for (let i = 0, j = 0; i < sorted.length; i++) {
    while (sorted[i]! - sorted[j]! >= spanMs) j++;
    most = Math.max(most, i - j + 1);
  }
  return most;
}

/**
 * Replays the log in order, tracking the devices unavailable by max_unavailable's definition:
 * given the new image and not yet running it, or failed and not rolled back. The most at once.
 */
function mostUnavailable(events: any[]): number {
  const unavailable = new Set<string>();
  let most = 0;
  for (const event of events) {
    if (event.type === 'image.device_scheduled') unavailable.add(event.device_uuid);
    else if (event.type === 'image.device_updated' || event.type === 'image.device_rolled_back') unavailable.delete(event.device_uuid);
    most = Math.max(most, unavailable.size);
  }
  return most;
}

describe('max_devices_per_minute', () => {
  it('schedules no more than R devices in any 60 s, a group a minute, and the batch deadline leaves time for it', async () => {
    const devices = await registerFleet({ apiUrl: host.url, adminKey: host.adminApiKey, size: 12, image: 'pace/rate:1', namePrefix: 'rate' });
    const stopPolling = startPolling(devices, 100);
    try {
      await f.createPolicy({ image_pattern: 'pace/rate:*', update_strategy: 'auto', max_devices_per_minute: 4, update_timeout_minutes: 10 });
      const id = (await f.push('pace/rate', '2')).body.rollouts[0].id;
      const scheduled = async () => ofType(await f.events(id), 'image.device_scheduled').length;
      for (const group of [1, 2, 3]) {
        await waitFor(async () => ((await scheduled()) >= 4 * group ? true : undefined), 20_000, `group ${group} scheduled`);
        if (group < 3) {
          // The minute is not over: nothing more goes out, however often the scheduler is asked.
          await new Promise((r) => setTimeout(r, 2_500));
          expect(await scheduled(), `devices scheduled within the minute of group ${group}`).toBe(4 * group);
          const detail = await f.rollout(id);
          expect(detail.rollout.pacing).toEqual({ waiting: 12 - 4 * group, unavailable: expect.any(Number) });
          host.clock.advance(60_000);
        }
      }
      const done = await f.waitForStatus(id, 'completed', 30_000);
      expect(done.statistics.updated).toBe(12);
      expect(done.rollout.pacing).toBeNull();

      const events = await f.events(id);
      const times = ofType(events, 'image.device_scheduled').map((e) => Date.parse(e.timestamp));
      expect(times).toHaveLength(12);
      expect(densest(times, 60_000)).toBe(4);

      const [started] = ofType(events, 'image.batch_started');
      expect(started.details.pacing).toEqual({ max_devices_per_minute: 4, max_unavailable: null });
      // ceil(12 / 4) minutes to schedule them, then the update timeout.
      expect(Date.parse(started.details.deadline_at) - Date.parse(started.timestamp)).toBe((3 + 10) * 60_000);
      expect(done.rollout.policy).toMatchObject({ max_devices_per_minute: 4, max_unavailable: null });
    } finally {
      await stopPolling();
    }
  }, 90_000);
});

describe('max_unavailable', () => {
  it('never has more than M devices given the new image and not yet running it', async () => {
    const devices = await registerFleet({
      apiUrl: host.url,
      adminKey: host.adminApiKey,
      size: 10,
      image: 'pace/budget:1',
      namePrefix: 'budget',
      behaviour: () => ({ updateDelayMs: 300 }),
    });
    // Slow pollers: a device learns of its target up to a second after it was set.
    const stopPolling = startPolling(devices, 1_000);
    try {
      await f.createPolicy({ image_pattern: 'pace/budget:*', update_strategy: 'auto', max_unavailable: 3 });
      const id = (await f.push('pace/budget', '2')).body.rollouts[0].id;
      const during = await f.waitForRollout(id, (d) => d.statistics.updated > 0 && d.statistics.updated < 10, 'some devices updated', 30_000);
      expect(during.rollout.pacing.unavailable).toBeLessThanOrEqual(3);
      const done = await f.waitForStatus(id, 'completed', 60_000);
      expect(done.statistics.updated).toBe(10);

      const events = await f.events(id);
      expect(ofType(events, 'image.device_scheduled')).toHaveLength(10);
      expect(mostUnavailable(events)).toBe(3);
      const [started] = ofType(events, 'image.batch_started');
      expect(started.details.pacing).toEqual({ max_devices_per_minute: null, max_unavailable: 3 });
      // A wave of the budget may take a whole update timeout: ceil(10 / 3) of them.
      expect(Date.parse(started.details.deadline_at) - Date.parse(started.timestamp)).toBe(4 * 30 * 60_000);
    } finally {
      await stopPolling();
    }
  }, 90_000);

  it('rolls failed devices back at once with auto-rollback, so the budget frees and the batch goes on', async () => {
    const devices = await registerFleet({ apiUrl: host.url, adminKey: host.adminApiKey, size: 8, image: 'pace/heal:1', namePrefix: 'heal' });
    // Planning takes a repository's devices in uuid order: the first two scheduled fail, and fill the budget.
    const failing = [...devices].sort((a, b) => a.uuid.localeCompare(b.uuid)).slice(0, 2);
    for (const device of failing) device.behaviour.failUpdate = true;
    const stopPolling = startPolling(devices, 200);
    try {
      await f.createPolicy({ image_pattern: 'pace/heal:*', update_strategy: 'auto', max_unavailable: 2, max_failure_rate: 0.5 });
      const id = (await f.push('pace/heal', '2')).body.rollouts[0].id;
      const done = await f.waitForStatus(id, 'completed', 60_000);
      expect(done.statistics).toMatchObject({ updated: 6, rolled_back: 2, failures: 2 });
      const events = await f.events(id);
      expect(mostUnavailable(events)).toBeLessThanOrEqual(2);
      const scheduled = ofType(events, 'image.device_scheduled');
      expect(scheduled.slice(0, 2).map((e) => e.device_uuid).sort()).toEqual(failing.map((d) => d.uuid).sort());
      // The third device could only go once a failure was rolled back, and it went at once: the
      // report's wake-up rolled the failure back, not batch-advance's fallback a fan-out grace
      // (4 s on this host's tick) after the batch started.
      const firstRollback = events.find((e) => e.type === 'image.device_rolled_back');
      const firstFailure = events.find((e) => e.type === 'image.device_failed');
      expect(firstRollback.details.reason).toContain('max_unavailable');
      expect(Date.parse(scheduled[2].timestamp)).toBeGreaterThanOrEqual(Date.parse(firstRollback.timestamp));
      expect(Date.parse(scheduled[2].timestamp) - Date.parse(firstFailure.timestamp)).toBeLessThan(3_000);
    } finally {
      await stopPolling();
    }
  }, 90_000);

  it('times a silent device out by itself, update_timeout_minutes after it was scheduled, so it holds the budget no longer', async () => {
    const devices = await registerFleet({ apiUrl: host.url, adminKey: host.adminApiKey, size: 3, image: 'pace/silent:1', namePrefix: 'silent' });
    const [silent] = [...devices].sort((a, b) => a.uuid.localeCompare(b.uuid));
    silent!.behaviour.silent = true;
    const stopPolling = startPolling(devices, 200);
    try {
      // Budget 1: the silent device, scheduled first, holds it until it times out. The batch
      // deadline gives each of the 3 waves its timeout (9 s); the device's own comes after 3 s.
      await f.createPolicy({ image_pattern: 'pace/silent:*', update_strategy: 'auto', max_unavailable: 1, update_timeout_minutes: 0.05, max_failure_rate: 0.5 });
      const id = (await f.push('pace/silent', '2')).body.rollouts[0].id;
      const done = await f.waitForStatus(id, 'completed', 30_000);
      expect(done.statistics).toMatchObject({ updated: 2, rolled_back: 1, failures: 1 });
      const events = await f.events(id);
      const [started] = ofType(events, 'image.batch_started');
      expect(Date.parse(started.details.deadline_at) - Date.parse(started.timestamp)).toBe(9_000);
      const [failed] = ofType(events, 'image.device_failed');
      expect(failed.device_uuid).toBe(silent!.uuid);
      expect(failed.details.reason).toBe('no update reported within 0.05 minutes of being scheduled');
      const [scheduledFirst] = ofType(events, 'image.device_scheduled');
      const late = Date.parse(failed.timestamp) - Date.parse(scheduledFirst.timestamp);
      expect(late).toBeGreaterThanOrEqual(3_000);
      expect(late).toBeLessThan(6_000);
      expect(Date.parse(ofType(events, 'image.batch_completed')[0].timestamp)).toBeLessThan(Date.parse(started.details.deadline_at));
    } finally {
      await stopPolling();
    }
  }, 60_000);

  it('does not wait forever when failures fill the budget and auto-rollback is off: the batch ends and the rollout pauses', async () => {
    const devices = await registerFleet({
      apiUrl: host.url,
      adminKey: host.adminApiKey,
      size: 8,
      image: 'pace/stuck:1',
      namePrefix: 'stuck',
      behaviour: () => ({ failUpdate: true }),
    });
    const stopPolling = startPolling(devices, 200);
    try {
      // A deadline far beyond the test: only seeing the budget held for good can end the batch.
      await f.createPolicy({ image_pattern: 'pace/stuck:*', update_strategy: 'auto', max_unavailable: 2, auto_rollback_enabled: false, max_failure_rate: 0.5, update_timeout_minutes: 600 });
      const id = (await f.push('pace/stuck', '2')).body.rollouts[0].id;
      const paused = await f.waitForStatus(id, 'paused', 30_000);
      expect(paused.rollout.status_reason).toMatch(/failure rate/);
      expect(paused.statistics.failed).toBe(8);
      const events = await f.events(id);
      expect(ofType(events, 'image.device_scheduled')).toHaveLength(2);
      const notScheduled = ofType(events, 'image.device_failed').filter((e) => /max_unavailable/.test(e.details.reason));
      expect(notScheduled).toHaveLength(6);
      expect(notScheduled[0].details.reason).toContain('auto-rollback is off');
    } finally {
      await stopPolling();
    }
  }, 60_000);
});
