import { describe, expect, it } from 'vitest';
import { planBatches } from '../../lib/domain/batch-plan';
import {
  canTransitionRollout,
  countsAsFailure,
  deviceStatusesLeadingTo,
  emptyCounts,
  failureRate,
  fanOutGraceMs,
  isUpdatePhaseOver,
  nextStep,
  restsOnCounts,
  rolloutStatistics,
  transitionRefusal,
} from '../../lib/domain/rollout-progress';
import type { BatchCounts, Rollout } from '../../lib/domain/types';

const now = new Date('2026-01-01T12:00:00Z');
const later = (minutes: number) => new Date(now.getTime() + minutes * 60_000).toISOString();

function rollout(overrides: Partial<Rollout> = {}): Rollout {
  return {
    id: 'ro-1',
    policy_id: 'pol-1',
    registry: 'docker-registry',
    repository: 'iotistic/app',
    tag: 'v2',
    image: 'iotistic/app:v2',
    pushed_at: now.toISOString(),
    delivery_id: 'd1',
    status: 'in_progress',
    policy: {
      image_pattern: 'iotistic/app:*',
      update_strategy: 'staged',
      batch_percentages: [10, 50, 100],
      batch_delay_minutes: 5,
      update_timeout_minutes: 30,
      health_check_enabled: false,
      health_check_config: null,
      auto_rollback_enabled: true,
      max_failure_rate: 0.2,
    },
    batches: planBatches(20, [10, 50, 100]),
    current_batch: 0,
    planning: { done: true, assigned: 20 },
    total_devices: 20,
    shard_count: 1,
    version: 3,
    created_at: now.toISOString(),
    updated_at: now.toISOString(),
    ...overrides,
  };
}

const counts = (c: Partial<BatchCounts>): BatchCounts => ({ ...emptyCounts(), ...c });
/** Counts of the current batch (and optionally earlier ones), as evaluate reads them. */
const byBatch = (current: number, c: Partial<BatchCounts>, earlier: Record<number, Partial<BatchCounts>> = {}) =>
  new Map<number, BatchCounts>([...Object.entries(earlier).map(([n, e]) => [Number(n), counts(e)] as const), [current, counts(c)]]);
const none = new Map<number, BatchCounts>();

function inBatch(n: number, extra: Partial<Rollout> = {}, batchFields: Partial<Rollout['batches'][number]> = {}): Rollout {
  const r = rollout(extra);
  r.current_batch = n;
  r.batches = r.batches.map((b) =>
    b.number < n
      ? { ...b, status: 'completed' }
      : b.number === n
        ? { ...b, status: 'in_progress', started_at: now.toISOString(), deadline_at: later(30), ...batchFields }
        : b,
  );
  return r;
}

const withHealth = (auto = true) => ({
  policy: { ...rollout().policy, health_check_enabled: true, health_check_config: { type: 'container' as const, containerName: 'main' }, auto_rollback_enabled: auto },
});

describe('nextStep', () => {
  it('starts the first batch of a rollout that has just started', () => {
    expect(nextStep(rollout(), none, now)).toEqual({ type: 'start_batch', batch: 1 });
  });

  it('does nothing while planning or when not in progress', () => {
    expect(nextStep(rollout({ planning: { done: false, assigned: 3 } }), none, now).type).toBe('none');
    for (const status of ['pending', 'paused', 'completed', 'cancelled', 'rolled_back'] as const) {
      expect(nextStep(rollout({ status }), none, now).type).toBe('none');
    }
  });

  it('completes a rollout with no devices at once', () => {
    expect(nextStep(rollout({ batches: [], total_devices: 0 }), none, now)).toEqual({ type: 'complete_rollout' });
  });

  it('waits while devices of the batch are still updating', () => {
    expect(nextStep(inBatch(1), byBatch(1, { scheduled: 1, updated: 1 }), now)).toEqual({ type: 'wait', until: later(30) });
  });

  it('waits until every device of the batch has been reached', () => {
    expect(nextStep(inBatch(2), byBatch(2, { updated: 5 }), now).type).toBe('wait');
  });

  it('resends the schedule fan-out when devices are still unreached long after the batch started', () => {
    const step = nextStep(inBatch(2), byBatch(2, { updated: 5 }), new Date(now.getTime() + fanOutGraceMs));
    expect(step).toMatchObject({ type: 'wait', resend: 'targets' });
  });

  it('recounts a batch that has reached every device but still counts some on their way, long after the fan-out', () => {
    expect(nextStep(inBatch(2), byBatch(2, { updated: 7, scheduled: 1 }), now)).toEqual({ type: 'wait', until: later(30) });
    const step = nextStep(inBatch(2), byBatch(2, { updated: 7, scheduled: 1 }), new Date(now.getTime() + fanOutGraceMs));
    expect(step).toMatchObject({ type: 'wait', resend: 'recount' });
    const recounted = inBatch(2, {}, { recounted_at: new Date(now.getTime() + fanOutGraceMs).toISOString() });
    expect(nextStep(recounted, byBatch(2, { updated: 7, scheduled: 1 }), new Date(now.getTime() + fanOutGraceMs + 1000))).not.toHaveProperty('resend');
  });

  it('completes a batch once every device is updated (no health checks, no failures)', () => {
    expect(nextStep(inBatch(2), byBatch(2, { updated: 8 }), now)).toEqual({ type: 'complete_batch', batch: 2 });
  });

  it('times out a batch past its deadline', () => {
    expect(nextStep(inBatch(1), byBatch(1, { scheduled: 2 }), new Date(later(31)))).toEqual({ type: 'time_out_batch', batch: 1 });
  });

  it('health-checks updated devices once the update phase is over, then waits for the results', () => {
    const r = inBatch(2, withHealth());
    expect(nextStep(r, byBatch(2, { updated: 7, failed: 1 }), now)).toEqual({ type: 'start_health_checks', batch: 2 });
    const requested = inBatch(2, withHealth(), { health_checks_requested_at: now.toISOString() });
    expect(nextStep(requested, byBatch(2, { updated: 3, healthy: 4, failed: 1 }), now)).toEqual({ type: 'wait' });
    expect(nextStep(requested, byBatch(2, { updated: 3, healthy: 4, failed: 1 }), new Date(now.getTime() + fanOutGraceMs))).toEqual({ type: 'wait', resend: 'health' });
  });

  it('rolls back failed and unhealthy devices when auto-rollback is on, then completes', () => {
    const checked = inBatch(2, withHealth(), { health_checks_requested_at: now.toISOString() });
    expect(nextStep(checked, byBatch(2, { healthy: 7, unhealthy: 1 }), now)).toEqual({ type: 'roll_back_failures', batch: 2 });
    const rolling = inBatch(2, withHealth(), { health_checks_requested_at: now.toISOString(), rollbacks_requested_at: now.toISOString() });
    expect(nextStep(rolling, byBatch(2, { healthy: 7, unhealthy: 1 }), now)).toEqual({ type: 'wait' });
    expect(nextStep(rolling, byBatch(2, { healthy: 7, rolled_back: 1 }), now)).toEqual({ type: 'complete_batch', batch: 2 });
  });

  it('retries failed and unhealthy devices a round at a time before rolling them back (retry_failed)', () => {
    const retrying = { policy: { ...withHealth().policy, retry_failed: 2 } };
    const checked = inBatch(2, retrying, { health_checks_requested_at: now.toISOString() });
    expect(nextStep(checked, byBatch(2, { healthy: 6, unhealthy: 1, failed: 1 }), now)).toEqual({ type: 'retry_failures', batch: 2, round: 1 });
    // The round's devices are on their way again: the batch waits for them, then checks them anew.
    const round1 = inBatch(2, retrying, { retry_rounds: 1 });
    expect(nextStep(round1, byBatch(2, { healthy: 6, scheduled: 2 }), now)).toMatchObject({ type: 'wait' });
    expect(nextStep(round1, byBatch(2, { healthy: 6, updated: 1, failed: 1 }), now)).toEqual({ type: 'start_health_checks', batch: 2 });
    expect(nextStep({ ...round1, batches: round1.batches.map((b) => (b.number === 2 ? { ...b, health_checks_requested_at: now.toISOString() } : b)) }, byBatch(2, { healthy: 7, failed: 1 }), now)).toEqual({ type: 'retry_failures', batch: 2, round: 2 });
    // Out of rounds: what still fails is rolled back.
    const round2 = inBatch(2, retrying, { retry_rounds: 2, health_checks_requested_at: now.toISOString() });
    expect(nextStep(round2, byBatch(2, { healthy: 7, failed: 1 }), now)).toEqual({ type: 'roll_back_failures', batch: 2 });
    expect(nextStep(inBatch(2, retrying, { retry_rounds: 1 }), byBatch(2, { healthy: 8 }), now)).toEqual({ type: 'complete_batch', batch: 2 });
  });

  it('leaves unhealthy devices alone when auto-rollback is off', () => {
    const checked = inBatch(2, withHealth(false), { health_checks_requested_at: now.toISOString() });
    expect(nextStep(checked, byBatch(2, { healthy: 7, unhealthy: 1 }), now)).toEqual({ type: 'complete_batch', batch: 2 });
  });

  it('pauses when the failure rate over all batches so far exceeds the maximum', () => {
    // 2 of 10 processed devices failed (and were rolled back): 20% is not above the 20% maximum.
    expect(nextStep(inBatch(2), byBatch(2, { updated: 6, rolled_back: 2, failures: 2 }, { 1: { updated: 2 } }), now).type).toBe('complete_batch');
    // 3 of 10: 30% is, in whichever batch they failed.
    const step = nextStep(inBatch(2), byBatch(2, { updated: 5, rolled_back: 3, failures: 2 }, { 1: { updated: 2, failures: 1 } }), now);
    expect(step).toEqual({ type: 'pause_for_failures', batch: 2, failure_rate: 0.3 });
  });

  it('does not pause for devices rolled back while they were fine', () => {
    expect(nextStep(inBatch(2), byBatch(2, { updated: 5, rolled_back: 3 }, { 1: { updated: 2 } }), now).type).toBe('complete_batch');
  });

  it('waits for the batch delay, then starts the next batch', () => {
    const r = inBatch(1);
    r.batches[0]!.status = 'completed';
    r.next_batch_due_at = later(5);
    expect(nextStep(r, none, now)).toEqual({ type: 'wait', until: later(5) });
    expect(nextStep(r, none, new Date(later(5)))).toEqual({ type: 'start_batch', batch: 2 });
  });

  it('completes the rollout after the last batch', () => {
    const r = inBatch(3);
    r.batches[2]!.status = 'completed';
    expect(nextStep(r, none, now)).toEqual({ type: 'complete_rollout' });
  });
});

describe('isUpdatePhaseOver and failureRate', () => {
  it('needs every device counted and none pending or scheduled', () => {
    const batch = planBatches(20, [10, 50, 100])[1]!;
    expect(isUpdatePhaseOver(batch, counts({ updated: 8 }))).toBe(true);
    expect(isUpdatePhaseOver(batch, counts({ updated: 7, scheduled: 1 }))).toBe(false);
    expect(isUpdatePhaseOver(batch, counts({ updated: 7 }))).toBe(false);
  });

  it('counts the devices that failed over the devices processed, ignoring skipped ones', () => {
    expect(failureRate(counts({}))).toBe(0);
    // One failed and still failed, one failed and rolled back since: both failures.
    expect(failureRate(counts({ healthy: 6, failed: 1, rolled_back: 1, failures: 2, skipped: 10, scheduled: 5 }))).toBe(0.25);
    // An admin's rollback of healthy devices is no failure.
    expect(failureRate(counts({ rolled_back: 8 }))).toBe(0);
    expect(failureRate(counts({ healthy: 2, unhealthy: 1, rolled_back: 5, failures: 2 }))).toBe(0.25);
  });

  it('takes a failed or unhealthy device, or one rolled back after it failed, as a failure', () => {
    expect(countsAsFailure({ status: 'failed' })).toBe(true);
    expect(countsAsFailure({ status: 'unhealthy' })).toBe(true);
    expect(countsAsFailure({ status: 'rolled_back', failed_at: now.toISOString() })).toBe(true);
    for (const status of ['pending', 'scheduled', 'updated', 'healthy', 'rolled_back', 'skipped'] as const) {
      expect(countsAsFailure({ status }), status).toBe(false);
    }
  });
});

describe('rolloutStatistics', () => {
  it('sums the batches, fills in the devices not yet reached, and gives progress and failure rate', () => {
    const r = inBatch(2);
    const stats = rolloutStatistics(r, byBatch(2, { healthy: 5, rolled_back: 2, failures: 1, scheduled: 1 }, { 1: { healthy: 2 } }));
    expect(stats).toMatchObject({
      total_devices: 20,
      healthy: 7,
      rolled_back: 2,
      scheduled: 1,
      pending: 10,
      failures: 1,
      current_batch: 2,
      total_batches: 3,
      progress_percent: 45,
      failure_rate: 0.1111,
    });
  });

  it('gives a fully updated rollout that an admin rolled back a failure rate of 0', () => {
    const r = rollout({ status: 'rolled_back', current_batch: 3 });
    const stats = rolloutStatistics(r, byBatch(3, { rolled_back: 18 }, { 1: { rolled_back: 2 } }));
    expect(stats).toMatchObject({ rolled_back: 20, failures: 0, failure_rate: 0, progress_percent: 100 });
  });
});

describe('transitions', () => {
  it('allows the rollout lifecycle of the design and nothing else', () => {
    expect(canTransitionRollout('pending', 'in_progress')).toBe(true);
    expect(canTransitionRollout('in_progress', 'paused')).toBe(true);
    expect(canTransitionRollout('paused', 'in_progress')).toBe(true);
    expect(canTransitionRollout('completed', 'rolled_back')).toBe(true);
    expect(canTransitionRollout('completed', 'in_progress')).toBe(false);
    expect(canTransitionRollout('cancelled', 'in_progress')).toBe(false);
  });

  it('explains a refused transition', () => {
    expect(transitionRefusal('ro-1', 'completed', 'in_progress', 'resume')).toMatch(/cannot resume rollout ro-1: it is completed/);
    expect(transitionRefusal('ro-1', 'paused', 'in_progress', 'resume')).toBeUndefined();
  });

  it('lets a device become updated from pending or scheduled only', () => {
    expect(deviceStatusesLeadingTo('updated').sort()).toEqual(['pending', 'scheduled']);
    expect(deviceStatusesLeadingTo('scheduled')).toEqual(['pending']);
  });
});

describe('nextStep of a paced batch', () => {
  const paced = (pacing: { max_devices_per_minute?: number | null; max_unavailable?: number | null }, auto = true) => ({
    policy: { ...rollout().policy, max_devices_per_minute: null, max_unavailable: null, auto_rollback_enabled: auto, ...pacing },
  });
  const afterGrace = new Date(now.getTime() + fanOutGraceMs);

  it('waits for its deadline while devices are still to be scheduled, without resending the per-shard fan-out', () => {
    expect(nextStep(inBatch(2, paced({ max_devices_per_minute: 2 })), byBatch(2, { updated: 3, scheduled: 1 }), now)).toEqual({ type: 'wait', until: later(30) });
  });

  it('asks its scheduler to go on once the last request is older than the fan-out grace (a lost message)', () => {
    expect(nextStep(inBatch(2, paced({ max_unavailable: 2 })), byBatch(2, { updated: 3, scheduled: 2 }), afterGrace)).toEqual({ type: 'continue_scheduling', batch: 2 });
    const asked = inBatch(2, paced({ max_unavailable: 2 }), { schedule_requested_at: afterGrace.toISOString() });
    expect(nextStep(asked, byBatch(2, { updated: 3, scheduled: 2 }), afterGrace)).toEqual({ type: 'wait', until: later(30) });
  });

  it('follows the usual rules once every device of the batch has been reached', () => {
    expect(nextStep(inBatch(2, paced({ max_unavailable: 2 })), byBatch(2, { updated: 7, scheduled: 1 }), afterGrace)).toMatchObject({ type: 'wait', resend: 'recount' });
    expect(nextStep(inBatch(2, paced({ max_unavailable: 2 })), byBatch(2, { updated: 8 }), now)).toEqual({ type: 'complete_batch', batch: 2 });
  });

  it('still times out at its deadline', () => {
    expect(nextStep(inBatch(2, paced({ max_devices_per_minute: 1 })), byBatch(2, { updated: 1 }), new Date(later(31)))).toEqual({ type: 'time_out_batch', batch: 2 });
  });

  it('gives the batch up when failures nothing will roll back fill the budget and none of the rollout is on its way', () => {
    const stuck = inBatch(2, paced({ max_unavailable: 2 }, false));
    // Failed devices of this batch and an unhealthy one of the last fill the budget of 2.
    expect(nextStep(stuck, byBatch(2, { failed: 1, updated: 1, failures: 1 }, { 1: { unhealthy: 1, healthy: 1, failures: 1 } }), now)).toEqual({ type: 'continue_scheduling', batch: 2, held_by_failures: 2 });
    // One still on its way may yet settle: wait for it.
    expect(nextStep(stuck, byBatch(2, { failed: 2, scheduled: 1, failures: 2 }), now).type).toBe('wait');
    // With auto-rollback the failures are rolled back, which frees the budget.
    expect(nextStep(inBatch(2, paced({ max_unavailable: 2 })), byBatch(2, { failed: 2, failures: 2 }), now).type).toBe('wait');
    // A rate alone is never held by failures.
    expect(nextStep(inBatch(2, paced({ max_devices_per_minute: 2 }, false)), byBatch(2, { failed: 5, failures: 5 }), now).type).toBe('wait');
  });

  it('takes giving up only on rows that agree (it rests on the counts)', () => {
    expect(restsOnCounts({ type: 'continue_scheduling', batch: 2, held_by_failures: 2 })).toBe(true);
    expect(restsOnCounts({ type: 'continue_scheduling', batch: 2 })).toBe(false);
  });

  it('leaves a rollout whose settings predate pacing unpaced', () => {
    const old = inBatch(2);
    expect(nextStep(old, byBatch(2, { updated: 5 }), afterGrace)).toMatchObject({ type: 'wait', resend: 'targets' });
  });
});
