/**
 * The rules of an admin's (and the system's own) control over a rollout: which devices each way
 * of stopping or undoing it takes back, and when a start, resume or single-device rollback is
 * refused. Transitions of the rollout itself are in rollout-progress.ts.
 */
import { failureStatuses, rollbackableStatuses } from './rollout-progress';
import type { DeviceRolloutStatus, Rollout } from './types';

/** Cancel (and a failed rollout): devices not yet updated; they keep, or get back, their image. */
export const revertedOnCancel: readonly DeviceRolloutStatus[] = ['pending', 'scheduled'];
/** Rollback-all: every device that may run the new image, and those never reached (skipped). */
export const revertedOnRollbackAll: readonly DeviceRolloutStatus[] = ['pending', ...rollbackableStatuses];
/** Auto-rollback after a batch: the devices that failed their update or their health check. */
export const revertedAutomatically: readonly DeviceRolloutStatus[] = failureStatuses;
/** A single device an admin rolls back must have been given the new image. */
export const revertableByAdmin: readonly DeviceRolloutStatus[] = ['updated', 'healthy', 'unhealthy', 'failed'];

/** Why an admin cannot start the rollout; undefined when they can (planning may still be under way). */
export function startRefusal(rollout: Pick<Rollout, 'id' | 'status' | 'policy'>): string | undefined {
  if (rollout.status !== 'pending') return `cannot start rollout ${rollout.id}: it is ${rollout.status}; only a pending rollout can be started`;
  if (rollout.policy.update_strategy !== 'manual') {
    return `rollout ${rollout.id} follows the ${rollout.policy.update_strategy} strategy: it starts by itself once planned`;
  }
  return undefined;
}

export function resumeRefusal(rollout: Pick<Rollout, 'id' | 'status'>): string | undefined {
  return rollout.status !== 'paused' ? `cannot resume rollout ${rollout.id}: it is ${rollout.status}; only a paused rollout can be resumed` : undefined;
}

/** Why one device of the rollout cannot be rolled back; undefined when it can. */
export function deviceRollbackRefusal(rolloutId: string, uuid: string, status: DeviceRolloutStatus): string | undefined {
  if (status === 'rolled_back') return `device ${uuid} is already rolled back in rollout ${rolloutId}`;
  if (!revertableByAdmin.includes(status)) return `device ${uuid} has not updated in rollout ${rolloutId} (status ${status}); there is nothing to roll back`;
  return undefined;
}
