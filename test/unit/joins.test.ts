/** Where a device joining a rollout goes, and what the rollout looks like once it has (lib/domain/joins.ts). */
import { describe, expect, it } from 'vitest';
import { batchContaining, devicesIn, joinedFirstSeq, seqRangesOf } from '../../lib/domain/batch-plan';
import { joinPlace, joinRefusal, withJoiner } from '../../lib/domain/joins';
import { rolloutRank } from '../../lib/domain/push-order';
import type { Batch, Rollout } from '../../lib/domain/types';

const now = new Date('2030-01-01T12:00:00.000Z');
const batch = (number: number, status: Batch['status'], extra: Partial<Batch> = {}): Batch => ({ number, percentage: number * 50, size: 2, first_seq: (number - 1) * 2, status, ...extra });

function rollout(overrides: Partial<Rollout> = {}): Rollout {
  return {
    id: 'ro-1',
    status: 'in_progress',
    planning: { done: true, assigned: 4 },
    batches: [batch(1, 'in_progress', { deadline_at: '2030-01-01T13:00:00.000Z', health_checks_requested_at: '2030-01-01T11:59:00.000Z' }), batch(2, 'pending')],
    current_batch: 1,
    total_devices: 4,
    version: 7,
    repository: 'acme/app',
    image: 'acme/app:2',
    pushed_at: '2030-01-01T11:00:00.000Z',
    created_at: '2030-01-01T11:00:01.000Z',
    policy: { update_timeout_minutes: 30, device_selector: { site: 'berlin' } },
    ...overrides,
  } as unknown as Rollout;
}

describe('joinPlace', () => {
  it('is the batch under way until it completes, then the next, then the last again once all are done', () => {
    expect(joinPlace(rollout())).toEqual({ batch: 1, reopens: false });
    expect(joinPlace(rollout({ status: 'paused' }))).toEqual({ batch: 1, reopens: false });
    expect(joinPlace(rollout({ current_batch: 0 }))).toEqual({ batch: 1, reopens: false });
    expect(joinPlace(rollout({ batches: [batch(1, 'completed'), batch(2, 'pending')] }))).toEqual({ batch: 2, reopens: false });
    expect(joinPlace(rollout({ current_batch: 2, batches: [batch(1, 'completed'), batch(2, 'completed')] }))).toEqual({ batch: 2, reopens: true });
    expect(joinPlace(rollout({ status: 'completed', current_batch: 2, batches: [batch(1, 'completed'), batch(2, 'completed')] }))).toEqual({ batch: 2, reopens: true });
  });

  it('refuses rollouts that ended otherwise, and those still being planned', () => {
    for (const status of ['cancelled', 'rolled_back', 'failed'] as const) expect(joinPlace(rollout({ status }))).toEqual({ refusal: `rollout ro-1 is ${status}` });
    expect(joinPlace(rollout({ planning: { done: false, assigned: 2 } }))).toEqual({ refusal: 'rollout ro-1 is still being planned' });
  });
});

describe('joinRefusal', () => {
  const same = (image: string) => image.startsWith('acme/app:');
  const device = (overrides: Record<string, unknown> = {}) => ({ labels: { site: 'berlin' }, target_apps: [{ name: 'main', image: 'acme/app:1' }], target_set_by: {}, rollouts: {}, ...overrides });

  it('lets a matching device of the repository in', () => {
    expect(joinRefusal(rollout(), device(), 'main', same)).toBeUndefined();
  });

  it('names why another is kept out', () => {
    expect(joinRefusal(rollout(), device(), 'other', same)).toBe('the device has no app named other');
    expect(joinRefusal(rollout(), device({ target_apps: [{ name: 'main', image: 'acme/web:1' }] }), 'main', same)).toMatch(/runs another repository/);
    expect(joinRefusal(rollout(), device({ labels: { site: 'paris' } }), 'main', same)).toMatch(/device_selector/);
    expect(joinRefusal(rollout(), device({ rollouts: { main: { rollout_id: 'ro-1' } } }), 'main', same)).toMatch(/in the rollout already/);
    const rank = rolloutRank(rollout());
    expect(joinRefusal(rollout(), device({ target_set_by: { main: rank } }), 'main', same)).toMatch(/moved by the rollout already/);
    expect(joinRefusal(rollout(), device({ target_set_by: { main: `2031${rank.slice(4)}` } }), 'main', same)).toMatch(/newer push/);
    expect(joinRefusal(rollout({ status: 'completed' }), device({ target_apps: [{ name: 'main', image: 'acme/app:2' }] }), 'main', same)).toMatch(/targets acme\/app:2 already/);
    // Under a tag alone, a device of a rollout under way on the same tag may run older content: it joins.
    expect(joinRefusal(rollout(), device({ target_apps: [{ name: 'main', image: 'acme/app:2' }] }), 'main', same)).toBeUndefined();
  });
});

describe('withJoiner', () => {
  it('counts the joiner in its batch and the rollout, gives it time, and asks for health checks again', () => {
    const next = withJoiner(rollout(), { batch: 1, reopens: false }, now);
    expect(next.total_devices).toBe(5);
    expect(next.version).toBe(8);
    const joined = next.batches[0]!;
    expect(joined.joined_devices).toBe(1);
    expect(joined.deadline_at).toBe('2030-01-01T13:00:00.000Z'); // never brought forward
    expect(joined.health_checks_requested_at).toBeUndefined();
    expect(next.wake_requested_for).toBe(joined.deadline_at);
    expect(devicesIn(joined)).toBe(3);
    expect(withJoiner(next, { batch: 1, reopens: false }, now).batches[0]!.joined_devices).toBe(2);
  });

  it('leaves a pending batch to set its own deadline when it starts', () => {
    const next = withJoiner(rollout({ batches: [batch(1, 'completed'), batch(2, 'pending')] }), { batch: 2, reopens: false }, now);
    expect(next.batches[1]).toEqual({ ...batch(2, 'pending'), joined_devices: 1 });
    expect(next.wake_requested_for).toBeUndefined();
  });

  it('opens a completed rollout again on its last batch', () => {
    const done = rollout({ status: 'completed', completed_at: '2030-01-01T11:30:00.000Z', current_batch: 2, batches: [batch(1, 'completed'), batch(2, 'completed', { completed_at: 'x' })], sweep: { from: [], to: 'skipped', reason: 'rollout completed', requested_at: 'x' } } as Partial<Rollout>);
    const next = withJoiner(done, { batch: 2, reopens: true }, now);
    expect(next).toMatchObject({ status: 'in_progress', current_batch: 2, total_devices: 5 });
    expect(next.completed_at).toBeUndefined();
    expect(next.sweep).toBeUndefined();
    expect(next.batches[1]).toMatchObject({ status: 'in_progress', joined_devices: 1, deadline_at: '2030-01-01T12:30:00.000Z', schedule_requested_at: now.toISOString() });
    expect(next.batches[1]!.completed_at).toBeUndefined();
  });
});

describe('sequence ranges of a batch', () => {
  it('are the planned range, then the block of its joiners', () => {
    const b = batch(3, 'in_progress', { first_seq: 10, size: 5, joined_devices: 2 });
    expect(seqRangesOf(b)).toEqual([{ first_seq: 10, size: 5 }, { first_seq: joinedFirstSeq(3), size: 2 }]);
    expect(seqRangesOf({ ...b, joined_devices: undefined })).toEqual([{ first_seq: 10, size: 5 }]);
    expect(batchContaining([batch(1, 'completed', { joined_devices: 1 }), b], joinedFirstSeq(3) + 1)?.number).toBe(3);
    expect(batchContaining([batch(1, 'completed', { joined_devices: 1 }), b], joinedFirstSeq(1))?.number).toBe(1);
    expect(batchContaining([batch(1, 'completed', { joined_devices: 1 }), b], joinedFirstSeq(1) + 1)).toBeUndefined();
    // Blocks never overlap, and stay within the nine digits of the key, for the most batches a policy can have.
    expect(joinedFirstSeq(100) + 999_999).toBeLessThan(1_000_000_000);
  });
});
