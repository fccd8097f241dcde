/**
 * When a rollout may move: a scheduled start, maintenance windows, and promote (the emergency
 * fast-forward past both). The host's clock is moved forward (`host.clock.advance`) instead of
 * waiting hours for a start time or a window: the handlers decide by it, and the schedules that
 * wake a rollout at a due time fire when the clock passes it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHost, type Host } from '../../infra/embedded/host';
import { registerFleet, startPolling, type SimulatedDevice } from '../../agent/simulator/fleet';
import { expectError } from '../support/api';
import { flow } from '../support/flow';

let host: Host;
let f: ReturnType<typeof flow>;
const stops: (() => Promise<void>)[] = [];

beforeAll(async () => {
  host = await startHost({ port: 0, dataDir: ':memory:', quiet: true });
  f = flow(host);
});

afterAll(async () => {
  await Promise.all(stops.map((stop) => stop()));
  await host?.stop();
});

const hour = 3_600_000;

async function fleetOf(size: number, image: string, poll = true): Promise<SimulatedDevice[]> {
  const devices = await registerFleet({ apiUrl: host.url, adminKey: host.adminApiKey, size, image, namePrefix: image.split(/[/:]/)[1] });
  if (poll) stops.push(startPolling(devices, 150));
  return devices;
}

/** The cron fields `minute hour` of `at` as a wall clock in `timezone` shows it. */
function cronAt(at: Date, timezone: string): string {
  const parts = new Intl.DateTimeFormat('en-GB', { timeZone: timezone, hour: 'numeric', minute: 'numeric', hourCycle: 'h23' }).formatToParts(at);
  const field = (type: string) => Number(parts.find((p) => p.type === type)!.value);
  return `${field('minute')} ${field('hour')} * * *`;
}

/** The next whole minute at least `ms` after the host's now. */
function minuteAfter(ms: number): Date {
  return new Date(Math.ceil((host.clock.now().getTime() + ms) / 60_000) * 60_000);
}

const eventTypes = async (id: string) => (await f.events(id)).map((e) => e.type);

describe('scheduled start', () => {
  it('starts a manual rollout at the time an admin gave, not before', async () => {
    await f.createPolicy({ image_pattern: 'timing/later:*', update_strategy: 'manual', staged_batches: 1, batch_delay_minutes: 0 });
    const devices = await fleetOf(3, 'timing/later:1');
    const id = (await f.push('timing/later', '2')).body.rollouts[0].id;
    const planned = await f.waitForRollout(id, (d) => d.rollout.planned, 'planned');
    expect(planned.rollout).toMatchObject({ status: 'pending', status_reason: 'waiting for an admin to start it' });

    const startAt = new Date(host.clock.now().getTime() + 3 * hour);
    const scheduled = await f.api('POST', `/api/v1/rollouts/${id}/start`, { body: { start_at: startAt.toISOString() } });
    expect(scheduled.status).toBe(202);
    expect(scheduled.body.rollout).toMatchObject({ status: 'pending', start_at: startAt.toISOString(), status_reason: `scheduled to start at ${startAt.toISOString()}` });
    expect(scheduled.body.message).toContain(startAt.toISOString());

    await new Promise((r) => setTimeout(r, 1500));
    expect((await f.rollout(id)).rollout.status).toBe('pending');
    expect(devices.every((d) => d.running[0]!.image === 'timing/later:1')).toBe(true);

    host.clock.advance(3 * hour + 1000);
    const done = await f.waitForStatus(id, 'completed', 30_000);
    expect(Date.parse(done.rollout.started_at)).toBeGreaterThanOrEqual(startAt.getTime());
    expect(done.rollout).not.toHaveProperty('status_reason');
    expect(devices.every((d) => d.running[0]!.image === 'timing/later:2')).toBe(true);
    const types = await eventTypes(id);
    expect(types.indexOf('image.rollout_start_scheduled')).toBeLessThan(types.indexOf('image.rollout_started'));
  }, 60_000);

  it('starts at once when the time given has passed, and refuses a time it cannot keep', async () => {
    await f.createPolicy({ image_pattern: 'timing/now:*', update_strategy: 'manual', staged_batches: 1 });
    await fleetOf(1, 'timing/now:1');
    const id = (await f.push('timing/now', '2')).body.rollouts[0].id;
    await f.waitForRollout(id, (d) => d.rollout.planned, 'planned');

    expectError(await f.api('POST', `/api/v1/rollouts/${id}/start`, { body: { start_at: 'tomorrow' } }), 400, 'start_at');
    expectError(await f.api('POST', `/api/v1/rollouts/${id}/start`, { body: { start_at: '2026-12-02T10:00:00' } }), 400, 'start_at');
    const farAway = new Date(host.clock.now().getTime() + 400 * 24 * hour).toISOString();
    expectError(await f.api('POST', `/api/v1/rollouts/${id}/start`, { body: { start_at: farAway } }), 400, 'start_at', '366 days');
    expect((await f.rollout(id)).rollout).not.toHaveProperty('start_at');

    const past = new Date(host.clock.now().getTime() - 60_000).toISOString();
    const started = await f.api('POST', `/api/v1/rollouts/${id}/start`, { body: { start_at: past } });
    expect(started.status).toBe(200);
    expect(started.body.rollout.status).toBe('in_progress');
    await f.waitForStatus(id, 'completed', 30_000);
  }, 60_000);

  it('refuses a scheduled start of a rollout that starts by itself', async () => {
    await f.createPolicy({ image_pattern: 'timing/auto:*', update_strategy: 'auto' });
    await fleetOf(1, 'timing/auto:1');
    const id = (await f.push('timing/auto', '2')).body.rollouts[0].id;
    const at = new Date(host.clock.now().getTime() + hour).toISOString();
    expectError(await f.api('POST', `/api/v1/rollouts/${id}/start`, { body: { start_at: at } }), 409, 'starts by itself');
  });
});

describe('maintenance windows', () => {
  it('starts batches only inside a window: a batch under way finishes, the next waits for the next window', async () => {
    const timezone = 'Europe/Berlin';
    const opens = minuteAfter(2 * hour);
    await f.createPolicy({
      image_pattern: 'timing/window:*',
      staged_batches: 2,
      batch_delay_minutes: 0,
      update_timeout_minutes: 240,
      maintenance_windows: [{ cron: cronAt(opens, timezone), duration_minutes: 30, timezone }],
    });
    const devices = await fleetOf(4, 'timing/window:1', false);
    const id = (await f.push('timing/window', '2')).body.rollouts[0].id;

    const waiting = await f.waitForRollout(id, (d) => d.rollout.next_window_at !== undefined, 'waiting for its window');
    expect(waiting.rollout).toMatchObject({ status: 'in_progress', current_batch: 0, next_window_at: opens.toISOString() });
    expect(waiting.rollout.policy.maintenance_windows).toEqual([{ cron: cronAt(opens, timezone), duration_minutes: 30, timezone }]);
    const waited = (await f.events(id)).find((e) => e.type === 'image.batch_waiting');
    expect(waited?.details).toEqual({ batch: 1, next_window_at: opens.toISOString() });

    // Inside the window: batch 1 starts. The devices are not polling yet, so it is still under way when the window closes.
    host.clock.advance(opens.getTime() - host.clock.now().getTime() + 1000);
    const first = await f.waitForRollout(id, (d) => d.rollout.batches[0].status === 'in_progress', 'batch 1 started', 30_000);
    expect(Date.parse(first.rollout.batches[0].started_at)).toBeGreaterThanOrEqual(opens.getTime());
    expect(first.rollout).not.toHaveProperty('next_window_at');
    host.clock.advance(31 * 60_000);
    stops.push(startPolling(devices, 150));

    // Batch 1 finishes outside the window; batch 2 waits for tomorrow's.
    const tomorrow = new Date(opens.getTime() + 24 * hour);
    const between = await f.waitForRollout(id, (d) => d.rollout.batches[0].status === 'completed' && d.rollout.next_window_at !== undefined, 'batch 2 waiting', 30_000);
    expect(between.rollout.next_window_at).toBe(tomorrow.toISOString());
    expect(between.rollout.batches[1].status).toBe('pending');

    host.clock.advance(tomorrow.getTime() - host.clock.now().getTime() + 1000);
    const done = await f.waitForStatus(id, 'completed', 30_000);
    expect(Date.parse(done.rollout.batches[1].started_at)).toBeGreaterThanOrEqual(tomorrow.getTime());
    expect(devices.every((d) => d.running[0]!.image === 'timing/window:2')).toBe(true);
    expect((await f.events(id)).filter((e) => e.type === 'image.batch_waiting').map((e) => e.details.batch)).toEqual([1, 2]);
  }, 90_000);

  it('refuses windows it cannot keep, naming the field, and writes nothing', async () => {
    const before = (await f.api('GET', '/api/v1/policies?limit=100')).body.policies.length;
    const bad = [
      [{ cron: '0 2 * *', duration_minutes: 60 }, 'maintenance_windows[0].cron', '5 fields'],
      [{ cron: '0 25 * * *', duration_minutes: 60 }, 'maintenance_windows[0].cron'],
      [{ cron: '0 2 * * *', duration_minutes: 0 }, 'maintenance_windows[0].duration_minutes'],
      [{ cron: '0 2 * * *', duration_minutes: 60, timezone: 'Mars/Olympus' }, 'maintenance_windows[0].timezone', 'Mars/Olympus'],
    ] as const;
    for (const [window, ...mentions] of bad) {
      expectError(await f.api('POST', '/api/v1/policies', { body: { image_pattern: 'timing/bad:*', maintenance_windows: [window] } }), 400, ...mentions);
    }
    expect((await f.api('GET', '/api/v1/policies?limit=100')).body.policies.length).toBe(before);
    // The time zone defaults to UTC.
    const policy = await f.createPolicy({ image_pattern: 'timing/utc:*', maintenance_windows: [{ cron: '30 3 * * 1-5', duration_minutes: 90 }] });
    expect(policy.maintenance_windows).toEqual([{ cron: '30 3 * * 1-5', duration_minutes: 90, timezone: 'UTC' }]);
  });
});

describe('promote', () => {
  it('starts the remaining batches now, past the batch delay, as one batch', async () => {
    await f.createPolicy({ image_pattern: 'timing/promote:*', staged_batches: 3, batch_delay_minutes: 600 });
    const devices = await fleetOf(10, 'timing/promote:1');
    const id = (await f.push('timing/promote', '2')).body.rollouts[0].id;
    const after1 = await f.waitForRollout(id, (d) => d.rollout.batches[0].status === 'completed', 'batch 1 completed', 30_000);
    expect(after1.rollout.next_batch_due_at).toEqual(expect.any(String));
    expect(after1.rollout.batches.map((b: any) => b.size)).toEqual([1, 4, 5]);

    expectError(await f.api('POST', `/api/v1/rollouts/${id}/promote`, { body: {} }), 400, 'reason');
    const promoted = await f.api('POST', `/api/v1/rollouts/${id}/promote`, { body: { reason: 'CVE fix, ship it' } });
    expect(promoted.status).toBe(200);
    expect(promoted.body.rollout.promotion).toMatchObject({ reason: 'CVE fix, ship it', full: false });
    expect(promoted.body.rollout.batches.map((b: any) => [b.number, b.size, b.percentage])).toEqual([
      [1, 1, 10],
      [2, 9, 100],
    ]);

    const done = await f.waitForStatus(id, 'completed', 30_000);
    expect(done.statistics.updated).toBe(10);
    expect(devices.every((d) => d.running[0]!.image === 'timing/promote:2')).toBe(true);
    const promotedEvent = (await f.events(id)).find((e) => e.type === 'image.rollout_promoted');
    expect(promotedEvent?.details).toMatchObject({ reason: 'CVE fix, ship it', full: false, merged_batches: [2, 3] });
    expectError(await f.api('POST', `/api/v1/rollouts/${id}/promote`, { body: { reason: 'again' } }), 409, 'completed');
  }, 60_000);

  it('full: past a closed window, and without the health checks', async () => {
    const opens = minuteAfter(5 * hour);
    await f.createPolicy({
      image_pattern: 'timing/full:*',
      staged_batches: 2,
      batch_delay_minutes: 0,
      // Nothing answers here: a health check that ran would fail every device.
      health_check_enabled: true,
      health_check_config: { type: 'http', endpoint: 'http://{device_ip}:9/health', timeout: 1, retries: 0 },
      maintenance_windows: [{ cron: cronAt(opens, 'UTC'), duration_minutes: 10, timezone: 'UTC' }],
    });
    const devices = await fleetOf(4, 'timing/full:1');
    const id = (await f.push('timing/full', '2')).body.rollouts[0].id;
    await f.waitForRollout(id, (d) => d.rollout.next_window_at === opens.toISOString(), 'waiting for its window');

    const promoted = await f.api('POST', `/api/v1/rollouts/${id}/promote`, { body: { reason: 'outage', full: true } });
    expect(promoted.status).toBe(200);
    expect(promoted.body.rollout.batches).toHaveLength(1);
    expect(promoted.body.rollout).not.toHaveProperty('next_window_at');
    const done = await f.waitForStatus(id, 'completed', 30_000);
    expect(done.statistics).toMatchObject({ updated: 4, healthy: 0, unhealthy: 0, failures: 0 });
    expect(devices.every((d) => d.running[0]!.image === 'timing/full:2')).toBe(true);
    expect(await eventTypes(id)).not.toContain('image.health_check_failed');
  }, 60_000);

  it('refuses to promote a paused rollout', async () => {
    await f.createPolicy({ image_pattern: 'timing/paused:*', staged_batches: 2, batch_delay_minutes: 600 });
    await fleetOf(2, 'timing/paused:1', false);
    const id = (await f.push('timing/paused', '2')).body.rollouts[0].id;
    await f.waitForStatus(id, 'in_progress');
    expect((await f.api('POST', `/api/v1/rollouts/${id}/pause`, { body: {} })).status).toBe(200);
    expectError(await f.api('POST', `/api/v1/rollouts/${id}/promote`, { body: { reason: 'go' } }), 409, 'paused', 'resume it first');
    expect((await f.rollout(id)).rollout).not.toHaveProperty('promotion');
  });
});
