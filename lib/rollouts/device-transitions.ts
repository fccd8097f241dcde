/**
 * What happens to one device in a rollout: it is scheduled (its target state gets the new image),
 * it reports the new image running (updated) or an error (failed), or it stays silent past the
 * batch deadline (failed). Each move is a conditional transition of its row, then a count, then
 * an event; a repeat finds the row already moved and changes nothing.
 */
import { deviceStatusesLeadingTo } from '../domain/rollout-progress';
import type { Batch, DeviceRolloutStatus, ReportedApp, Rollout, RolloutDevice, RolloutPointer } from '../domain/types';
import { logger } from '../logger';
import { sendOrchestration, sendScheduleCommands, type ScheduleCommand } from '../queues/messages';
import { clearRolloutPointer, getDevicesByUuid, setTargetImage, type StoredDevice } from '../store/devices';
import { appendEvent } from '../store/events';
import { countTransition, queryRowsInRange, reconcileBatchShard, rowsInRange, transitionRolloutDevice } from '../store/rollout-devices';
import { getRollout } from '../store/rollouts';

const schedulePageSize = 50;

/**
 * Schedules one page of a shard's devices for a batch, then queues the next page. A rollout that
 * is no longer in progress on that batch (paused, cancelled) schedules nothing more.
 */
export async function scheduleShard(command: ScheduleCommand, now: Date): Promise<void> {
  const rollout = await getRollout(command.rollout_id);
  if (!rollout || rollout.status !== 'in_progress' || rollout.current_batch !== command.batch) return;
  const batch = rollout.batches[command.batch - 1];
  if (!batch || batch.status !== 'in_progress') return;

  const page = await queryRowsInRange(rollout.id, command.shard, batch.first_seq, batch.size, schedulePageSize, command.start_key);
  const waiting = page.rows.filter((row) => row.status === 'pending' || row.status === 'scheduled');
  const devices = new Map((await getDevicesByUuid(waiting.map((r) => r.device_uuid))).map((d) => [d.uuid, d]));
  for (const row of waiting) {
    const device = devices.get(row.device_uuid);
    if (device) await scheduleDevice(rollout, batch, row, device, now);
    else await failDevice(row, batch.number, 'device no longer exists', now);
  }
  if (page.lastKey) {
    const next: ScheduleCommand = { ...command, start_key: page.lastKey };
    await sendScheduleCommands([next]);
  }
}

async function scheduleDevice(rollout: Rollout, batch: Batch, row: RolloutDevice, device: StoredDevice, now: Date): Promise<void> {
  const appIndex = device.target_apps.findIndex((a) => a.name === row.app);
  if (appIndex === -1) {
    await failDevice(row, batch.number, `device no longer has an app named ${row.app}`, now);
    return;
  }
  const pointer: RolloutPointer = { rollout_id: rollout.id, shard: row.shard, seq: row.seq, batch: batch.number, image: row.new_image };
  const at = row.scheduled_at ?? now.toISOString();
  await setTargetImage(device.uuid, appIndex, { name: row.app, image: row.new_image }, pointer, at);
  if (row.status === 'pending') {
    const from = await transitionRolloutDevice(row, ['pending'], 'scheduled', { batch: batch.number, at, extra: { scheduled_at: at } });
    if (from) await countTransition(row, batch.number, from, 'scheduled');
    else return; // the device reported before its row was marked: it has moved on already
  }
  await appendEvent({
    type: 'image.device_scheduled',
    rollout_id: rollout.id,
    device_uuid: device.uuid,
    shard: row.shard,
    timestamp: at,
    details: { batch: batch.number, app: row.app, from_image: row.previous_image, to_image: row.new_image },
  });
}

/** Moves a row and counts the move; returns the status it left, or undefined if it had moved on. */
async function moveRow(
  row: Pick<RolloutDevice, 'rollout_id' | 'shard' | 'seq'>,
  batch: number,
  to: DeviceRolloutStatus,
  at: string,
  error?: string,
): Promise<DeviceRolloutStatus | undefined> {
  const from = await transitionRolloutDevice(row, deviceStatusesLeadingTo(to), to, { batch, at, ...(error ? { error } : {}) });
  if (!from) return undefined;
  const shardCounts = await countTransition(row, batch, from, to);
  if (shardCounts.scheduled === 0) {
    // Possibly the last device of the batch: ask batch-advance to look (the tick would, later).
    await sendOrchestration({ type: 'evaluate', rollout_id: row.rollout_id, reason: `device ${to}` }, `shard-${row.shard}-batch-${batch}-${to}-${at}`);
  }
  return from;
}

async function failDevice(row: RolloutDevice, batch: number, reason: string, now: Date): Promise<void> {
  const at = now.toISOString();
  if (!(await moveRow(row, batch, 'failed', at, reason))) return;
  await clearRolloutPointer(row.device_uuid, row.app, row.rollout_id);
  await appendEvent({
    type: 'image.device_failed',
    rollout_id: row.rollout_id,
    device_uuid: row.device_uuid,
    shard: row.shard,
    timestamp: at,
    details: { batch, app: row.app, image: row.new_image, reason },
  });
}

const failedStatuses = new Set(['error', 'failed', 'crashed', 'dead']);

/** What a device's report means for each rollout it is part of. */
export async function applyReport(device: StoredDevice, report: { apps: ReportedApp[]; error?: string | null }, now: Date): Promise<void> {
  const at = now.toISOString();
  for (const [appName, pointer] of Object.entries(device.rollouts ?? {})) {
    const reported = report.apps.find((a) => a.name === appName);
    const onNewImage = reported?.image === pointer.image;
    const status = reported?.status.toLowerCase();
    let outcome: { to: 'updated' | 'failed'; reason?: string } | undefined;
    if (onNewImage && status === 'running') outcome = { to: 'updated' };
    else if (onNewImage && status && failedStatuses.has(status)) outcome = { to: 'failed', reason: report.error ?? `app ${appName} reported ${reported!.status}` };
    else if (report.error) outcome = { to: 'failed', reason: report.error };
    if (!outcome) continue;

    const from = await moveRow(pointer, pointer.batch, outcome.to, at, outcome.reason);
    await clearRolloutPointer(device.uuid, appName, pointer.rollout_id);
    if (!from) continue;
    await appendEvent({
      type: outcome.to === 'updated' ? 'image.device_updated' : 'image.device_failed',
      rollout_id: pointer.rollout_id,
      device_uuid: device.uuid,
      shard: pointer.shard,
      timestamp: at,
      details: { batch: pointer.batch, app: appName, image: pointer.image, ...(outcome.reason ? { reason: outcome.reason } : {}) },
    });
  }
}

/**
 * The batch deadline has passed: every device still not updated fails, and the batch's counters
 * are recounted from its rows (repairing any count a crash skipped).
 */
export async function timeOutBatch(rollout: Rollout, batch: Batch, now: Date): Promise<void> {
  const reason = `no update reported within ${rollout.policy.update_timeout_minutes} minutes`;
  let timedOut = 0;
  for (let shard = 0; shard < rollout.shard_count; shard++) {
    for await (const row of rowsInRange(rollout.id, shard, batch.first_seq, batch.size)) {
      if (row.status === 'pending' || row.status === 'scheduled') {
        await failDevice(row, batch.number, reason, now);
        timedOut++;
      }
    }
    await reconcileBatchShard(rollout.id, shard, batch.number, batch.first_seq, batch.size);
  }
  if (timedOut > 0) logger.info('batch timed out', { rolloutId: rollout.id, batch: batch.number, timedOut });
}
