import { describe, expect, it } from 'vitest';
import { cronProblem, timezoneProblem, windowState, type MaintenanceWindow } from '../../lib/domain/maintenance-windows';
import { promotedBatches, promoteRefusal, startGate } from '../../lib/domain/rollout-control';
import type { Batch } from '../../lib/domain/types';

const nightly: MaintenanceWindow = { cron: '0 2 * * *', duration_minutes: 120, timezone: 'Europe/Berlin' };
const at = (iso: string) => new Date(iso);

describe('windowState', () => {
  it('is open from the cron time for its duration, in the window’s time zone', () => {
    // 02:00 in Berlin is 01:00 UTC in winter.
    expect(windowState([nightly], at('2026-12-02T00:59:59Z'))).toEqual({ open: false, opens_at: at('2026-12-02T01:00:00Z') });
    expect(windowState([nightly], at('2026-12-02T01:00:00Z'))).toEqual({ open: true, closes_at: at('2026-12-02T03:00:00Z') });
    expect(windowState([nightly], at('2026-12-02T02:59:59.999Z'))).toEqual({ open: true, closes_at: at('2026-12-02T03:00:00Z') });
    expect(windowState([nightly], at('2026-12-02T03:00:00Z'))).toEqual({ open: false, opens_at: at('2026-12-03T01:00:00Z') });
  });

  it('follows daylight saving time', () => {
    // 02:00 in Berlin is 00:00 UTC in summer.
    expect(windowState([nightly], at('2026-07-02T00:30:00Z'))).toEqual({ open: true, closes_at: at('2026-07-02T02:00:00Z') });
    expect(windowState([nightly], at('2026-07-01T23:30:00Z'))).toEqual({ open: false, opens_at: at('2026-07-02T00:00:00Z') });
  });

  it('takes the earliest of several windows, and the latest close of overlapping ones', () => {
    const weekend: MaintenanceWindow = { cron: '0 12 * * 6,0', duration_minutes: 60, timezone: 'UTC' };
    // Wednesday 2026-12-02, 05:00 UTC: the nightly window opens first.
    expect(windowState([weekend, nightly], at('2026-12-02T05:00:00Z'))).toEqual({ open: false, opens_at: at('2026-12-03T01:00:00Z') });
    const long: MaintenanceWindow = { cron: '30 1 * * *', duration_minutes: 180, timezone: 'UTC' };
    expect(windowState([nightly, long], at('2026-12-02T02:00:00Z'))).toEqual({ open: true, closes_at: at('2026-12-02T04:30:00Z') });
  });
});

describe('window validation', () => {
  it('names what is wrong', () => {
    expect(cronProblem('0 2 * * *')).toBeUndefined();
    expect(cronProblem('*/15 1-4 * * 1-5')).toBeUndefined();
    expect(cronProblem('0 2 * *')).toContain('5 fields');
    expect(cronProblem('0 0 2 * * *')).toContain('5 fields');
    expect(cronProblem('61 2 * * *')).toContain('not a cron expression');
    expect(cronProblem('0 2 30 2 *')).toContain('not a cron expression');
    expect(timezoneProblem('Europe/Berlin')).toBeUndefined();
    expect(timezoneProblem('Europe/Atlantis')).toContain('unknown time zone');
  });
});

describe('startGate', () => {
  const now = at('2026-12-02T12:00:00Z');
  const manual = { policy: { update_strategy: 'manual' } } as never;
  it('holds a manual rollout until an admin starts it, at the time they gave', () => {
    expect(startGate(manual, now)).toEqual({ ready: false, reason: 'waiting for an admin to start it' });
    expect(startGate({ ...(manual as object), start_requested_at: '2026-12-02T11:00:00Z' } as never, now)).toEqual({ ready: true });
    const later = { ...(manual as object), start_requested_at: '2026-12-02T11:00:00Z', start_at: '2026-12-02T13:00:00.000Z' } as never;
    expect(startGate(later, now)).toEqual({ ready: false, reason: 'scheduled to start at 2026-12-02T13:00:00.000Z', until: '2026-12-02T13:00:00.000Z' });
    expect(startGate(later, at('2026-12-02T13:00:00Z'))).toEqual({ ready: true });
  });
});

describe('promotedBatches', () => {
  const batch = (number: number, size: number, first_seq: number, status: Batch['status'], extra: Partial<Batch> = {}): Batch => ({ number, percentage: number * 30, size, first_seq, status, ...extra });
  const deadline = '2026-12-02T13:00:00.000Z';

  it('joins the waiting batches to the batch under way while it is still updating', () => {
    const rollout = { current_batch: 1, batches: [batch(1, 1, 0, 'in_progress', { deadline_at: '2026-12-02T12:30:00.000Z' }), batch(2, 4, 1, 'pending'), batch(3, 5, 5, 'pending')] };
    expect(promotedBatches(rollout, deadline)).toEqual({ batches: [{ ...rollout.batches[0], size: 10, percentage: 100, deadline_at: deadline }], joined: 1, merged: [1, 2, 3] });
  });

  it('makes them one batch after the current one once its devices are being checked, or after a completed one', () => {
    const checking = { current_batch: 1, batches: [batch(1, 1, 0, 'in_progress', { health_checks_requested_at: 'x' }), batch(2, 4, 1, 'pending'), batch(3, 5, 5, 'pending')] };
    expect(promotedBatches(checking, deadline)).toEqual({ batches: [checking.batches[0], { ...checking.batches[1], size: 9, percentage: 100 }], merged: [2, 3] });
    const between = { current_batch: 1, batches: [batch(1, 1, 0, 'completed'), batch(2, 4, 1, 'pending'), batch(3, 5, 5, 'pending')] };
    expect(promotedBatches(between, deadline).batches.map((b) => [b.number, b.first_seq, b.size])).toEqual([
      [1, 0, 1],
      [2, 1, 9],
    ]);
    const none = { current_batch: 2, batches: [batch(1, 1, 0, 'completed'), batch(2, 9, 1, 'in_progress')] };
    expect(promotedBatches(none, deadline)).toEqual({ batches: none.batches, merged: [] });
  });

  it('is refused unless the rollout is in progress, and only once (full may follow a plain promote)', () => {
    const base = { id: 'ro-1', batches: [] };
    expect(promoteRefusal({ ...base, status: 'paused' }, false)).toContain('resume it first');
    expect(promoteRefusal({ ...base, status: 'pending' }, false)).toContain('has not started');
    expect(promoteRefusal({ ...base, status: 'completed' }, false)).toContain('completed');
    expect(promoteRefusal({ ...base, status: 'in_progress' }, false)).toBeUndefined();
    const promoted = { ...base, status: 'in_progress' as const, promotion: { reason: 'r', full: false, at: 'x' } };
    expect(promoteRefusal(promoted, false)).toContain('already promoted');
    expect(promoteRefusal(promoted, true)).toBeUndefined();
    expect(promoteRefusal({ ...promoted, promotion: { ...promoted.promotion, full: true } }, true)).toContain('already promoted (full)');
  });
});
