/**
 * The rules of a rollout's life, as pure functions: which transitions are allowed, when a batch
 * is settled, and what the next step of an in-progress rollout is.
 */
import type { Batch, DeviceRolloutStatus, Rollout, RolloutStatus, StatusCounts } from './types';
import { deviceRolloutStatuses } from './types';

const rolloutTransitions: Record<RolloutStatus, readonly RolloutStatus[]> = {
  pending: ['in_progress', 'cancelled', 'failed'],
  in_progress: ['paused', 'completed', 'cancelled', 'rolled_back', 'failed'],
  paused: ['in_progress', 'cancelled', 'rolled_back', 'failed'],
  completed: ['rolled_back'],
  cancelled: [],
  rolled_back: [],
  failed: [],
};

export function canTransitionRollout(from: RolloutStatus, to: RolloutStatus): boolean {
  return rolloutTransitions[from].includes(to);
}

const deviceTransitions: Record<DeviceRolloutStatus, readonly DeviceRolloutStatus[]> = {
  // A device may report the new image before its row is marked scheduled (it polled quickly).
  pending: ['scheduled', 'updated', 'failed'],
  scheduled: ['updated', 'failed'],
  updated: ['healthy', 'unhealthy', 'failed', 'rolled_back'],
  healthy: ['rolled_back'],
  unhealthy: ['rolled_back'],
  failed: ['rolled_back'],
  rolled_back: [],
};

export function deviceStatusesLeadingTo(to: DeviceRolloutStatus): DeviceRolloutStatus[] {
  return deviceRolloutStatuses.filter((from) => deviceTransitions[from].includes(to));
}

export function emptyCounts(): StatusCounts {
  return { pending: 0, scheduled: 0, updated: 0, healthy: 0, unhealthy: 0, failed: 0, rolled_back: 0 };
}

export function addCounts(a: StatusCounts, b: Partial<StatusCounts>): StatusCounts {
  const sum = { ...a };
  for (const status of deviceRolloutStatuses) sum[status] += b[status] ?? 0;
  return sum;
}

export function totalOf(counts: StatusCounts): number {
  return deviceRolloutStatuses.reduce((n, status) => n + counts[status], 0);
}

/** A batch is settled once all of its devices are scheduled and none is still on its way. */
export function isBatchSettled(batch: Batch, counts: StatusCounts): boolean {
  return totalOf(counts) >= batch.size && counts.pending === 0 && counts.scheduled === 0;
}

export type NextStep =
  | { type: 'start_batch'; batch: number }
  | { type: 'complete_batch'; batch: number }
  | { type: 'time_out_batch'; batch: number }
  | { type: 'complete_rollout' }
  | { type: 'wait'; until?: string }
  | { type: 'none'; reason: string };

/**
 * What an in-progress rollout should do now, given the counts of its current batch. Applying the
 * step and asking again walks the rollout forward; `wait` and `none` mean nothing is due.
 */
export function nextStep(rollout: Rollout, currentCounts: StatusCounts | undefined, now: Date): NextStep {
  if (rollout.status !== 'in_progress') return { type: 'none', reason: `rollout is ${rollout.status}` };
  if (!rollout.planning.done) return { type: 'none', reason: 'rollout is still being planned' };
  if (rollout.batches.length === 0) return { type: 'complete_rollout' };
  if (rollout.current_batch === 0) return { type: 'start_batch', batch: 1 };

  const batch = rollout.batches[rollout.current_batch - 1];
  if (!batch) return { type: 'none', reason: `batch ${rollout.current_batch} does not exist` };

  if (batch.status === 'in_progress') {
    if (currentCounts && isBatchSettled(batch, currentCounts)) return { type: 'complete_batch', batch: batch.number };
    if (batch.deadline_at && Date.parse(batch.deadline_at) <= now.getTime()) {
      return { type: 'time_out_batch', batch: batch.number };
    }
    return { type: 'wait', ...(batch.deadline_at ? { until: batch.deadline_at } : {}) };
  }
  if (batch.status === 'completed') {
    if (batch.number === rollout.batches.length) return { type: 'complete_rollout' };
    const due = rollout.next_batch_due_at;
    if (!due || Date.parse(due) <= now.getTime()) return { type: 'start_batch', batch: batch.number + 1 };
    return { type: 'wait', until: due };
  }
  return { type: 'start_batch', batch: batch.number };
}

export function minutesLater(from: Date, minutes: number): string {
  return new Date(from.getTime() + minutes * 60_000).toISOString();
}
