import { describe, expect, it } from 'vitest';
import { allowance, batchDeadline, budgetRoom, claimRate, heldByFailures, pacingOf, rateRoom, unavailableOf, waitingIn, type RateGroup } from '../../lib/domain/pacing';
import { emptyCounts } from '../../lib/domain/rollout-progress';
import type { BatchCounts } from '../../lib/domain/types';

const t0 = new Date('2026-01-01T12:00:00.000Z');
const at = (seconds: number) => new Date(t0.getTime() + seconds * 1000);
const counts = (c: Partial<BatchCounts>): BatchCounts => ({ ...emptyCounts(), ...c });
const byBatch = (...batches: Partial<BatchCounts>[]) => new Map(batches.map((c, i) => [i + 1, counts(c)]));

describe('pacingOf', () => {
  it('is undefined without either limit, settings stored before pacing included', () => {
    expect(pacingOf({ max_devices_per_minute: null, max_unavailable: null })).toBeUndefined();
    expect(pacingOf({})).toBeUndefined();
    expect(pacingOf({ max_devices_per_minute: 5 })).toEqual({ maxPerMinute: 5, maxUnavailable: null });
  });
});

describe('the rate: groups of at most R, a minute apart', () => {
  /** Claims as the scheduler does: whatever the rate lets through of `wanted`, at each time. */
  function simulate(limit: number, demand: [seconds: number, wanted: number][]): number[] {
    let group: RateGroup | undefined;
    const granted: number[] = [];
    const times: number[] = [];
    for (const [seconds, wanted] of demand) {
      const now = at(seconds);
      const n = Math.min(wanted, rateRoom(group, limit, now).room);
      granted.push(n);
      if (n > 0) {
        group = claimRate(group, n, now);
        for (let i = 0; i < n; i++) times.push(now.getTime());
      }
    }
    // No 60 s window holds more than the limit, however the demand came.
    for (const start of times) expect(times.filter((t) => t >= start && t < start + 60_000).length).toBeLessThanOrEqual(limit);
    return granted;
  }

  it('lets R through at once, then none until a minute after the group took its last', () => {
    expect(simulate(4, [[0, 10], [30, 10], [59.9, 10], [60, 10], [120, 10]])).toEqual([4, 0, 0, 4, 4]);
  });

  it('fills a group from several claims, and times the next from the group\'s last claim', () => {
    // 1 at 0 s and 3 at 50 s fill the group of 4; the next opens at 110 s, not 60 s.
    expect(simulate(4, [[0, 1], [50, 10], [60, 10], [109, 10], [110, 10]])).toEqual([1, 3, 0, 0, 4]);
  });

  it('starts a fresh group once a minute has passed since the last claim, full or not', () => {
    expect(simulate(4, [[0, 2], [61, 10]])).toEqual([2, 4]);
  });

  it('says when a full group lets the next through', () => {
    const group = claimRate(undefined, 4, at(10));
    expect(rateRoom(group, 4, at(20))).toEqual({ room: 0, opensAt: at(70).toISOString() });
    expect(rateRoom(group, 4, at(70))).toEqual({ room: 4 });
  });
});

describe('the budget', () => {
  it('counts scheduled, unhealthy and failed devices of every batch as unavailable; updated, healthy, rolled back and skipped not', () => {
    expect(unavailableOf(counts({ scheduled: 2, unhealthy: 1, failed: 1, updated: 5, healthy: 3, rolled_back: 2, skipped: 1, failures: 4 }))).toBe(4);
    expect(budgetRoom(5, byBatch({ unhealthy: 1, healthy: 4 }, { scheduled: 2, updated: 1 }))).toBe(2);
  });

  it('never goes below zero, even on counters a lost count has pushed under', () => {
    expect(budgetRoom(2, byBatch({ scheduled: 3, failed: 1 }))).toBe(0);
    expect(unavailableOf(counts({ scheduled: -1, failed: 1 }))).toBe(1);
  });
});

describe('allowance', () => {
  const both = { maxPerMinute: 4, maxUnavailable: 3 };

  it('grants what both limits allow, and says which held the rest back', () => {
    expect(allowance({ maxPerMinute: null, maxUnavailable: 3 }, 10, undefined, byBatch({ scheduled: 1 }), t0)).toEqual({ granted: 2, heldBy: 'budget' });
    expect(allowance({ maxPerMinute: 4, maxUnavailable: null }, 10, undefined, undefined, t0)).toEqual({ granted: 4, heldBy: 'rate', opensAt: at(60).toISOString() });
    expect(allowance(both, 2, undefined, byBatch({}), t0)).toEqual({ granted: 2 });
    expect(allowance(both, 10, undefined, byBatch({}), t0)).toEqual({ granted: 3, heldBy: 'budget' });
  });

  it('waits for the next group when the rate has no room, whatever the budget', () => {
    const full = claimRate(undefined, 4, t0);
    expect(allowance({ maxPerMinute: 4, maxUnavailable: 10 }, 5, full, byBatch({}), at(30))).toEqual({ granted: 0, heldBy: 'rate', opensAt: at(60).toISOString() });
    // A full budget holds first: a group opening changes nothing while it is full.
    expect(allowance(both, 5, full, byBatch({ scheduled: 3 }), at(30))).toEqual({ granted: 0, heldBy: 'budget' });
  });
});

describe('batchDeadline', () => {
  const policy = { update_timeout_minutes: 10, max_devices_per_minute: null, max_unavailable: null };

  it('is the update timeout after the start without pacing', () => {
    expect(batchDeadline(t0, policy, 1000)).toBe(at(600).toISOString());
    expect(batchDeadline(t0, { update_timeout_minutes: 10 }, 1000)).toBe(at(600).toISOString());
  });

  it('adds the minutes the rate needs to schedule the batch: ceil(N / R)', () => {
    expect(batchDeadline(t0, { ...policy, max_devices_per_minute: 4 }, 12)).toBe(at((3 + 10) * 60).toISOString());
    expect(batchDeadline(t0, { ...policy, max_devices_per_minute: 4 }, 13)).toBe(at((4 + 10) * 60).toISOString());
  });

  it('gives each wave of the budget its update timeout: ceil(N / M) of them', () => {
    expect(batchDeadline(t0, { ...policy, max_unavailable: 3 }, 10)).toBe(at(4 * 10 * 60).toISOString());
    expect(batchDeadline(t0, { ...policy, max_unavailable: 50 }, 10)).toBe(at(10 * 60).toISOString());
    expect(batchDeadline(t0, { ...policy, max_devices_per_minute: 5, max_unavailable: 5 }, 10)).toBe(at((2 + 2 * 10) * 60).toISOString());
  });
});

describe('heldByFailures and waitingIn', () => {
  const budget = { maxPerMinute: null, maxUnavailable: 2 };

  it('holds for good only without auto-rollback, with the budget full of failures and nothing on its way', () => {
    expect(heldByFailures(budget, false, byBatch({ unhealthy: 1 }, { failed: 1, updated: 3 }))).toBe(2);
    expect(heldByFailures(budget, false, byBatch({ failed: 1, scheduled: 1 }))).toBeUndefined();
    expect(heldByFailures(budget, false, byBatch({ failed: 1, rolled_back: 3 }))).toBeUndefined();
    expect(heldByFailures(budget, true, byBatch({ failed: 5 }))).toBeUndefined();
    expect(heldByFailures({ maxPerMinute: 3, maxUnavailable: null }, false, byBatch({ failed: 5 }))).toBeUndefined();
  });

  it('counts the devices of a batch never reached', () => {
    const batch = { number: 1, percentage: 100, size: 10, first_seq: 0, status: 'in_progress' as const };
    expect(waitingIn(batch, counts({ scheduled: 2, updated: 3, skipped: 1 }))).toBe(4);
    expect(waitingIn(batch, undefined)).toBe(10);
  });
});
