import { describe, expect, it } from 'vitest';
import { planBatches } from '../../lib/domain/batch-plan';
import { canTransitionRollout, deviceStatusesLeadingTo, emptyCounts, isBatchSettled, nextStep } from '../../lib/domain/rollout-progress';
import type { Rollout, StatusCounts } from '../../lib/domain/types';

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

const counts = (c: Partial<StatusCounts>): StatusCounts => ({ ...emptyCounts(), ...c });

function inBatch(n: number, extra: Partial<Rollout> = {}): Rollout {
  const r = rollout(extra);
  r.current_batch = n;
  r.batches = r.batches.map((b) =>
    b.number < n ? { ...b, status: 'completed' } : b.number === n ? { ...b, status: 'in_progress', started_at: now.toISOString(), deadline_at: later(30) } : b,
  );
  return r;
}

describe('nextStep', () => {
  it('starts the first batch of a rollout that has just started', () => {
    expect(nextStep(rollout(), undefined, now)).toEqual({ type: 'start_batch', batch: 1 });
  });

  it('does nothing while planning or when not in progress', () => {
    expect(nextStep(rollout({ planning: { done: false, assigned: 3 } }), undefined, now).type).toBe('none');
    for (const status of ['pending', 'paused', 'completed', 'cancelled'] as const) {
      expect(nextStep(rollout({ status }), undefined, now).type).toBe('none');
    }
  });

  it('completes a rollout with no devices at once', () => {
    expect(nextStep(rollout({ batches: [], total_devices: 0 }), undefined, now)).toEqual({ type: 'complete_rollout' });
  });

  it('waits while devices of the batch are still updating', () => {
    const step = nextStep(inBatch(1), counts({ scheduled: 1, updated: 1 }), now);
    expect(step).toEqual({ type: 'wait', until: later(30) });
  });

  it('waits until every device of the batch has been reached', () => {
    expect(nextStep(inBatch(2), counts({ updated: 5 }), now).type).toBe('wait');
  });

  it('completes a batch once every device is updated or failed', () => {
    expect(nextStep(inBatch(2), counts({ updated: 6, failed: 2 }), now)).toEqual({ type: 'complete_batch', batch: 2 });
  });

  it('times out a batch past its deadline', () => {
    expect(nextStep(inBatch(1), counts({ scheduled: 2 }), new Date(later(31)))).toEqual({ type: 'time_out_batch', batch: 1 });
  });

  it('waits for the batch delay, then starts the next batch', () => {
    const r = inBatch(1);
    r.batches[0]!.status = 'completed';
    r.next_batch_due_at = later(5);
    expect(nextStep(r, undefined, now)).toEqual({ type: 'wait', until: later(5) });
    expect(nextStep(r, undefined, new Date(later(5)))).toEqual({ type: 'start_batch', batch: 2 });
  });

  it('completes the rollout after the last batch', () => {
    const r = inBatch(3);
    r.batches[2]!.status = 'completed';
    expect(nextStep(r, undefined, now)).toEqual({ type: 'complete_rollout' });
  });
});

describe('isBatchSettled', () => {
  it('needs every device counted and none pending or scheduled', () => {
    const batch = planBatches(20, [10, 50, 100])[1]!;
    expect(isBatchSettled(batch, counts({ updated: 8 }))).toBe(true);
    expect(isBatchSettled(batch, counts({ updated: 7, scheduled: 1 }))).toBe(false);
    expect(isBatchSettled(batch, counts({ updated: 7 }))).toBe(false);
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

  it('lets a device become updated from pending or scheduled only', () => {
    expect(deviceStatusesLeadingTo('updated').sort()).toEqual(['pending', 'scheduled']);
    expect(deviceStatusesLeadingTo('scheduled')).toEqual(['pending']);
  });
});
