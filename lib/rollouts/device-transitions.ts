/**
 * What happens to one device in a rollout: it is scheduled (its target state gets the new image),
 * it reports the new image running (updated) or an error (failed), or it stays silent past the
 * batch deadline (failed). Each move is a conditional transition of its row, then a count, then
 * an event; a repeat finds the row already moved and changes nothing.
 */
import { deviceStatusesLeadingTo } from '../domain/rollout-progress';
import type { Batch, DeviceRolloutStatus, EventType, ReportedApp, Rollout, RolloutDevice, RolloutPointer } from '../domain/types';
import { logger } from '../logger';
import { sendOrchestration, sendScheduleCommands, type ScheduleCommand } from '../queues/messages';
import { normaliseRepository } from '../registry';
import { clearRolloutPointer, getDevicesByUuid, getStoredDevice, moveTargetImage, type StoredDevice } from '../store/devices';
import { appendEvent } from '../store/events';
import { countTransition, getRolloutDevice, queryRowsInRange, reconcileBatchShard, recordPreviousImage, rowsInRange, transitionRolloutDevice, type RowRef } from '../store/rollout-devices';
import { getRollout } from '../store/rollouts';

const schedulePageSize = 50;

/**
 * Moves a row and counts the move; returns the status it left, or undefined if it had moved on.
 * When the row's shard has no device left on its way to the new image, batch-advance is asked to
 * look: this may have been the last device of the batch (the tick would notice too, later).
 */
export async function moveRow(
  row: RowRef,
  batch: number,
  to: DeviceRolloutStatus,
  at: string,
  details: { error?: string; extra?: Record<string, unknown> } = {},
): Promise<DeviceRolloutStatus | undefined> {
  const from = await transitionRolloutDevice(row, deviceStatusesLeadingTo(to), to, { batch, at, ...details });
  if (!from) return undefined;
  const shardCounts = await countTransition(row, batch, from, to);
  if (shardCounts.scheduled === 0 && (from === 'scheduled' || from === 'pending')) {
    await sendOrchestration({ type: 'evaluate', rollout_id: row.rollout_id, reason: `device ${to}` }, `shard-${row.shard}-batch-${batch}-${to}-${at}`);
  }
  return from;
}

export async function deviceEvent(
  type: EventType,
  row: Pick<RolloutDevice, 'rollout_id' | 'device_uuid' | 'shard' | 'app'>,
  at: string,
  details: Record<string, unknown>,
): Promise<void> {
  await appendEvent({ type, rollout_id: row.rollout_id, device_uuid: row.device_uuid, shard: row.shard, timestamp: at, details: { app: row.app, ...details } });
}

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
  for (const row of waiting) await scheduleDevice(rollout, batch, row, devices.get(row.device_uuid), now);
  if (page.lastKey) await sendScheduleCommands([{ ...command, start_key: page.lastKey }]);
}

/**
 * The row moves to `scheduled` first, then the device's target: a rollback or cancel that reverts
 * the row in between therefore sees it, and the re-read after the target write undoes a target
 * set for a row that was reverted meanwhile.
 */
async function scheduleDevice(rollout: Rollout, batch: Batch, row: RolloutDevice, device: StoredDevice | undefined, now: Date): Promise<void> {
  const appIndex = device?.target_apps.findIndex((a) => a.name === row.app) ?? -1;
  const target = device?.target_apps[appIndex]?.image;
  if (!device || !target || normaliseRepository(target) !== normaliseRepository(row.new_image)) {
    const reason = !device ? 'device no longer exists' : !target ? `device no longer has an app named ${row.app}` : `its app ${row.app} now runs another repository (${target})`;
    if (await moveRow(row, batch.number, 'skipped', now.toISOString(), { error: reason })) {
      await deviceEvent('image.device_failed', row, now.toISOString(), { batch: batch.number, reason, skipped: true });
    }
    return;
  }
  const at = row.scheduled_at ?? now.toISOString();
  if (row.status === 'pending') {
    const moved = await moveRow(row, batch.number, 'scheduled', at, { extra: { scheduled_at: at } });
    if (!moved) return; // it moved on already: the device reported, or the rollout was reverted
  }
  const pointer: RolloutPointer = { rollout_id: rollout.id, shard: row.shard, seq: row.seq, batch: batch.number, image: row.new_image };
  const previous = await moveToNewImage(device, appIndex, row, pointer, at);
  if (previous === undefined) {
    const reason = `the target of app ${row.app} left the repository while it was being scheduled`;
    if (await moveRow(row, batch.number, 'skipped', now.toISOString(), { error: reason })) {
      await deviceEvent('image.device_failed', row, now.toISOString(), { batch: batch.number, reason, skipped: true });
    }
    return;
  }
  const current = await getRolloutDevice(row);
  if (current && (current.status === 'rolled_back' || current.status === 'skipped')) {
    await moveTargetImage(device.uuid, appIndex, { app: row.app, from: row.new_image, to: current.previous_image }, null, now.toISOString());
    return;
  }
  await deviceEvent('image.device_scheduled', row, at, { batch: batch.number, from_image: previous, to_image: row.new_image });
}

/**
 * Sets the new image as the app's target, from whatever tag of the repository it targets now: a
 * superseded rollout or an admin may have moved it since planning. The row then remembers that
 * image as the one to roll back to. Returns it, or undefined when the target left the repository.
 */
async function moveToNewImage(device: StoredDevice, appIndex: number, row: RolloutDevice, pointer: RolloutPointer, at: string): Promise<string | undefined> {
  let from: string | undefined = device.target_apps[appIndex]!.image;
  for (let attempt = 0; attempt < 3; attempt++) {
    if (from === row.new_image) return row.previous_image; // set already, by an earlier delivery of this command
    if (await moveTargetImage(device.uuid, appIndex, { app: row.app, from, to: row.new_image }, pointer, at)) {
      if (from !== row.previous_image) await recordPreviousImage(row, from);
      return from;
    }
    const latest = await getStoredDevice(device.uuid, true);
    from = latest?.target_apps[appIndex]?.name === row.app ? latest.target_apps[appIndex]!.image : undefined;
    if (!from || normaliseRepository(from) !== normaliseRepository(row.new_image)) return undefined;
  }
  return undefined;
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

    const row = { rollout_id: pointer.rollout_id, device_uuid: device.uuid, shard: pointer.shard, seq: pointer.seq, app: appName };
    const from = await moveRow(row, pointer.batch, outcome.to, at, outcome.reason ? { error: outcome.reason } : {});
    await clearRolloutPointer(device.uuid, appName, pointer.rollout_id);
    if (!from) continue;
    await deviceEvent(outcome.to === 'updated' ? 'image.device_updated' : 'image.device_failed', row, at, {
      batch: pointer.batch,
      image: pointer.image,
      ...(outcome.reason ? { reason: outcome.reason } : {}),
    });
  }
}

/**
 * The batch deadline has passed: every device still not updated fails, and the batch's counters
 * are recounted from its rows (repairing any count a crash skipped).
 */
export async function timeOutBatch(rollout: Rollout, batch: Batch, now: Date): Promise<void> {
  const reason = `no update reported within ${rollout.policy.update_timeout_minutes} minutes`;
  const at = now.toISOString();
  let timedOut = 0;
  for (let shard = 0; shard < rollout.shard_count; shard++) {
    for await (const row of rowsInRange(rollout.id, shard, batch.first_seq, batch.size)) {
      if (row.status !== 'pending' && row.status !== 'scheduled') continue;
      if (!(await moveRow(row, batch.number, 'failed', at, { error: reason }))) continue;
      await clearRolloutPointer(row.device_uuid, row.app, row.rollout_id);
      await deviceEvent('image.device_failed', row, at, { batch: batch.number, image: row.new_image, reason });
      timedOut++;
    }
    await reconcileBatchShard(rollout.id, shard, batch.number, batch.first_seq, batch.size);
  }
  if (timedOut > 0) logger.info('batch timed out', { rolloutId: rollout.id, batch: batch.number, timedOut });
}

