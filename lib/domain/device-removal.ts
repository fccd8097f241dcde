/**
 * What deleting a device does to a rollout that still has work with it: a row the rollout waits
 * on leaves it (`skipped`), so that no batch waits for a device that will never report or be
 * health-checked. A row whose outcome is settled (healthy, failed, rolled back…, or `updated` where
 * no health check follows) is the rollout's history and stays as it is.
 */
import type { Rollout, RolloutDevice } from './types';
import { activeRolloutStatuses } from './types';

export const deletedDeviceReason = 'device deleted';

/** Whether the deleted device's row leaves its rollout now. */
export function leavesWithDevice(rollout: Pick<Rollout, 'status' | 'policy' | 'batches'>, row: Pick<RolloutDevice, 'status' | 'batch'>): boolean {
  if (!activeRolloutStatuses.includes(rollout.status)) return false; // the ending's sweep settles its rows
  if (row.status === 'pending' || row.status === 'scheduled') return true;
  if (row.status !== 'updated' || !rollout.policy.health_check_enabled) return false;
  // Updated and waiting for its health check: only in a batch still under way.
  const batch = row.batch === null ? undefined : rollout.batches[row.batch - 1];
  return batch?.status === 'in_progress';
}
