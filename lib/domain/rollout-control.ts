/**
 * The rules of an admin's (and the system's own) control over a rollout: which devices each way
 * of stopping or undoing it takes back, and when a start, resume or single-device rollback is
 * refused. Transitions of the rollout itself are in rollout-progress.ts.
 */
import { approvalProgress, isApproved } from './approvals';
import { failureStatuses, rollbackableStatuses } from './rollout-progress';
import type { Batch, DeviceRolloutStatus, Rollout } from './types';

/** Cancel (and a failed rollout): devices not yet updated; they keep, or get back, their image. */
export const revertedOnCancel: readonly DeviceRolloutStatus[] = ['pending', 'scheduled'];
/** Rollback-all: every device that may run the new image, and those never reached (skipped). */
export const revertedOnRollbackAll: readonly DeviceRolloutStatus[] = ['pending', ...rollbackableStatuses];
/** Auto-rollback after a batch: the devices that failed their update or their health check. */
export const revertedAutomatically: readonly DeviceRolloutStatus[] = failureStatuses;
/** A single device an admin rolls back must have been given the new image. */
export const revertableByAdmin: readonly DeviceRolloutStatus[] = ['updated', 'healthy', 'unhealthy', 'failed'];

/** Why an admin cannot start the rollout; undefined when they can (planning may still be under way). */
export function startRefusal(rollout: Pick<Rollout, 'id' | 'status' | 'policy' | 'approvals' | 'awaiting_approval'>): string | undefined {
  if (rollout.status !== 'pending') return `cannot start rollout ${rollout.id}: it is ${rollout.status}; only a pending rollout can be started`;
  if (rollout.policy.update_strategy !== 'manual') {
    return `rollout ${rollout.id} follows the ${rollout.policy.update_strategy} strategy: it starts by itself once planned${isApproved(rollout, 0) ? '' : ' and approved'}`;
  }
  if (!isApproved(rollout, 0)) return `cannot start rollout ${rollout.id}: it is waiting for approval (${approvalProgress(rollout, 0)})`;
  return undefined;
}

/**
 * Whether a planned, pending rollout may start now: a manual one once an admin has started it
 * (at the time they scheduled, when they gave one); the others at once. When it may not, why, and
 * the time it should be looked at again (undefined: only an admin's action moves it).
 */
export type StartGate = { ready: true } | { ready: false; reason: string; until?: string; /** The approval deadline has passed: the rollout is cancelled. */ expired?: boolean };

export function startGate(rollout: Pick<Rollout, 'status' | 'policy' | 'start_requested_at' | 'start_at' | 'approvals' | 'approval_deadline_at' | 'awaiting_approval'>, now: Date): StartGate {
  if (!isApproved(rollout, 0)) {
    const deadline = rollout.approval_deadline_at;
    if (deadline && Date.parse(deadline) <= now.getTime()) {
      return { ready: false, reason: `no approval by the deadline (${deadline}): ${approvalProgress(rollout, 0)} approvals`, expired: true };
    }
    return { ready: false, reason: 'waiting for approval', ...(deadline ? { until: deadline } : {}) };
  }
  if (rollout.policy.update_strategy === 'manual' && !rollout.start_requested_at) return { ready: false, reason: 'waiting for an admin to start it' };
  if (rollout.start_at && Date.parse(rollout.start_at) > now.getTime()) return { ready: false, reason: `scheduled to start at ${rollout.start_at}`, until: rollout.start_at };
  return { ready: true };
}

/** How far ahead a start may be scheduled. */
export const maxStartAheadDays = 366;

/** Why `startAt` cannot be a scheduled start at `now`, or undefined when it can (a time already past means now). */
export function startAtProblem(startAt: string, now: Date): string | undefined {
  const at = Date.parse(startAt);
  if (at - now.getTime() > maxStartAheadDays * 86_400_000) return `must be at most ${maxStartAheadDays} days ahead`;
  return undefined;
}

/** Why an admin cannot promote the rollout (with `full` or not); undefined when they can. */
export function promoteRefusal(rollout: Pick<Rollout, 'id' | 'status' | 'promotion' | 'batches'>, full: boolean): string | undefined {
  if (rollout.status === 'paused') return `cannot promote rollout ${rollout.id}: it is paused; resume it first (a pause is a decision promote does not overrule)`;
  if (rollout.status === 'pending') return `cannot promote rollout ${rollout.id}: it has not started`;
  if (rollout.status !== 'in_progress') return `cannot promote rollout ${rollout.id}: it is ${rollout.status}`;
  if (rollout.promotion && (rollout.promotion.full || !full)) return `rollout ${rollout.id} is already promoted${rollout.promotion.full ? ' (full)' : ''}`;
  return undefined;
}

/**
 * The batches of a promoted rollout: those not yet started become one. They join the batch under
 * way (`joined`, its deadline renewed to `deadline`) while its devices are still updating; else
 * they are one batch after it. `merged`: the numbers of the batches that were joined together.
 */
export function promotedBatches(rollout: Pick<Rollout, 'batches' | 'current_batch'>, deadline: string): { batches: Batch[]; joined?: number; merged: number[] } {
  const waiting = rollout.batches.filter((b) => b.status === 'pending');
  if (waiting.length === 0) return { batches: rollout.batches, merged: [] };
  const size = waiting.reduce((sum, b) => sum + b.size, 0);
  const merged = waiting.map((b) => b.number);
  const current = rollout.batches[rollout.current_batch - 1];
  const stillUpdating = current?.status === 'in_progress' && !current.health_checks_requested_at && !current.rollbacks_requested_at;
  const started = rollout.batches.filter((b) => b.status !== 'pending');
  if (stillUpdating) {
    const later = current.deadline_at && current.deadline_at > deadline ? current.deadline_at : deadline;
    const joined: Batch = { ...current, size: current.size + size, percentage: 100, deadline_at: later };
    return { batches: started.map((b) => (b.number === current.number ? joined : b)), joined: current.number, merged: [current.number, ...merged] };
  }
  const first = waiting[0]!;
  return { batches: [...started, { ...first, size, percentage: 100 }], merged };
}

export function resumeRefusal(rollout: Pick<Rollout, 'id' | 'status' | 'awaiting_approval'>): string | undefined {
  if (rollout.status !== 'paused') return `cannot resume rollout ${rollout.id}: it is ${rollout.status}; only a paused rollout can be resumed`;
  if (rollout.awaiting_approval) return `rollout ${rollout.id} waits for approval after batch ${rollout.awaiting_approval.after_batch}: approve it (POST /api/v1/rollouts/${rollout.id}/approve) or reject it`;
  return undefined;
}

/** Why one device of the rollout cannot be rolled back; undefined when it can. */
export function deviceRollbackRefusal(rolloutId: string, uuid: string, status: DeviceRolloutStatus): string | undefined {
  if (status === 'rolled_back') return `device ${uuid} is already rolled back in rollout ${rolloutId}`;
  if (!revertableByAdmin.includes(status)) return `device ${uuid} has not updated in rollout ${rolloutId} (status ${status}); there is nothing to roll back`;
  return undefined;
}
