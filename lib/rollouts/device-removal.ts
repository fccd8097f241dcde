/**
 * A device deleted while rollouts are moving it leaves them. Each rollout it takes part in is
 * found from the device item: by the pointer of an app a rollout has scheduled and waits to hear
 * from, or by `target_set_by` / `target_set_seq` for an app whose report settled its pointer (it
 * may be waiting for its health check). Each such row a rollout still waits on becomes `skipped`,
 * has its event and is counted, and batch-advance is asked to look, so that a batch waiting only
 * on that device completes. Rows of later batches have no pointer yet; their batch finds the
 * device gone when it starts and skips them then.
 */
import { deletedDeviceReason, leavesWithDevice } from '../domain/device-removal';
import { rolloutIdOfRank } from '../domain/push-order';
import type { RolloutDevice } from '../domain/types';
import { sendOrchestration } from '../queues/messages';
import type { StoredDevice } from '../store/devices';
import { shardOf } from '../store/keys';
import { getRolloutDevice, type RowRef } from '../store/rollout-devices';
import { getRollout } from '../store/rollouts';
import { countMoves, deviceEvent, transitionRow } from './device-transitions';

/** Where the device's rows may be: one or two per app (its pointer's, and the last target's). */
async function rowRefsOf(device: StoredDevice): Promise<RowRef[]> {
  const refs: RowRef[] = [];
  for (const pointer of Object.values(device.rollouts ?? {})) refs.push({ rollout_id: pointer.rollout_id, shard: pointer.shard, seq: pointer.seq });
  for (const [app, rank] of Object.entries(device.target_set_by ?? {})) {
    const seq = device.target_set_seq?.[app];
    const rolloutId = rolloutIdOfRank(rank);
    if (seq === undefined || refs.some((ref) => ref.rollout_id === rolloutId && ref.seq === seq)) continue;
    const rollout = await getRollout(rolloutId);
    if (rollout && rollout.shard_count > 0) refs.push({ rollout_id: rolloutId, shard: shardOf(device.uuid, rollout.shard_count), seq });
  }
  return refs;
}

/**
 * Takes the device out of every rollout that still waits on it. Safe to repeat: a row skipped by an
 * earlier attempt is found so, its event recorded again under the same id and nothing counted twice.
 */
export async function leaveRollouts(device: StoredDevice, now: Date): Promise<void> {
  const at = now.toISOString();
  const left = new Set<string>();
  for (const ref of await rowRefsOf(device)) {
    const row = await getRolloutDevice(ref);
    if (!row || row.device_uuid !== device.uuid) continue;
    const rollout = await getRollout(row.rollout_id);
    const leaves = rollout !== undefined && leavesWithDevice(rollout, row);
    if (!leaves && !skippedForDeletion(row)) continue;
    const batch = row.batch ?? 0;
    const move = leaves ? await transitionRow(row, batch, 'skipped', at, { error: deletedDeviceReason }) : { moved: false, to: 'skipped' as const, at: row.updated_at };
    // Moved on meanwhile (reported, health-checked, or swept by the rollout's ending): that move has its own event.
    if (!move || (leaves && !move.moved)) continue;
    await deviceEvent('image.device_skipped', row, move.at, { batch, reason: deletedDeviceReason, ...(move.from ? { was: move.from } : {}) });
    await countMoves(row, batch, [move]);
    left.add(row.rollout_id);
  }
  for (const rolloutId of left) {
    await sendOrchestration({ type: 'evaluate', rollout_id: rolloutId, reason: 'device deleted' }, `device-deleted-${device.uuid}-${at}`);
  }
}

/** A row an earlier attempt skipped: its event is recorded again, in case that attempt stopped before it. */
function skippedForDeletion(row: RolloutDevice): boolean {
  return row.status === 'skipped' && row.error === deletedDeviceReason;
}
