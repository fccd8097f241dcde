/**
 * Devices joining a rollout that was planned without them (see lib/domain/joins.ts for where they
 * go). Registration and a label change ask (`requestJoins`); the join itself runs in the rollout's
 * orchestration message group (`joinRollout`), one joiner at a time, so each gets the next
 * sequence number of its batch's block without a race.
 *
 * A join writes the device's row first, then the rollout (one more device in the batch, with the
 * `image.device_joined` event in its outbox), conditioned on the version it read. A crash between
 * the two leaves a row at a sequence number the batch does not count yet: the redelivered command
 * writes the same row again, and a row another device left there is cleared before the number is
 * given out. Then a batch under way schedules the device at once; if that is lost, batch-advance's
 * resend of the batch's targets reaches it.
 *
 * The request itself is recorded on the device with the change that makes it (`joins_pending`),
 * and removed once sent, so a lost send is sent again at the device's next poll.
 */
import { joinedFirstSeq } from '../domain/batch-plan';
import { joinPlace, joinRefusal, withJoiner } from '../domain/joins';
import { matchesSelector } from '../domain/labels';
import { pacingOf } from '../domain/pacing';
import { rolloutIdOfRank } from '../domain/push-order';
import type { Labels } from '../domain/labels';
import type { Device, Rollout, RolloutDevice } from '../domain/types';
import { logger } from '../logger';
import { sendOrchestration, sendTargetCommands, sendWakeUp } from '../queues/messages';
import { normaliseRepository } from '../registry';
import { clearPendingJoins, getStoredDevice, type StoredDevice } from '../store/devices';
import { shardOf } from '../store/keys';
import { deleteRow, putRolloutDevices } from '../store/rollout-devices';
import { getRollout, newestStartedPush, saveRollout } from '../store/rollouts';
import { schedulePage } from './device-transitions';

/**
 * Asks every rollout the device should now take part in to let it join: for each app, the
 * rollout of its repository's newest started push, while under way or completed. With
 * `previousLabels` (a label change), only rollouts whose selector the device did not match before.
 * False when a request could not be sent (logged); true when every one was, or none was needed.
 */
export async function requestJoins(
  device: Pick<Device, 'uuid' | 'target_apps' | 'labels' | 'target_set_by' | 'rollouts'>,
  requestedAt: string,
  previousLabels?: Labels,
): Promise<boolean> {
  let sent = true;
  for (const app of device.target_apps) {
    const repository = normaliseRepository(app.image);
    try {
      const rank = await newestStartedPush(repository);
      const rollout = rank === undefined ? undefined : await getRollout(rolloutIdOfRank(rank));
      if (!rollout || !['in_progress', 'paused', 'completed'].includes(rollout.status)) continue;
      if (previousLabels && matchesSelector(previousLabels, rollout.policy.device_selector ?? {})) continue;
      if (joinRefusal(rollout, device, app.name, (image) => normaliseRepository(image) === repository) !== undefined) continue;
      await sendOrchestration({ type: 'join', rollout_id: rollout.id, device_uuid: device.uuid, app: app.name, requested_at: requestedAt });
    } catch (error) {
      sent = false;
      logger.error('could not ask a rollout under way to take the device in; its next poll asks again', { device_uuid: device.uuid, app: app.name, repository, error });
    }
  }
  return sent;
}

/**
 * Sends the requests to join that the device's registration or label change recorded
 * (`joins_pending`, written with the change), then removes the record. Called right after the
 * change, and from the device's poll once the record has waited `pendingJoinsGraceMs` (the send
 * failed, or the function died before it): the poll is the one path that sends them again.
 * A request sent twice is harmless: SQS drops a copy within five minutes (the deduplication id
 * carries the change's time), and a join that finds the device in the rollout already does
 * nothing. Never throws: what it could not do is logged and left recorded for the next poll.
 */
export async function sendPendingJoins(device: StoredDevice): Promise<void> {
  const { joins_pending: pending, joins_pending_at: at } = device;
  if (!pending || !at) return;
  if (!(await requestJoins(device, at, pending.labels_before))) return;
  try {
    await clearPendingJoins(device.uuid, at);
  } catch (error) {
    // Left in place, the record is sent again at the next poll: a copy, which joins nothing twice.
    logger.warn('could not remove the device\'s sent requests to join; its next poll sends them again', { device_uuid: device.uuid, error });
  }
}

/** How long a poll leaves a recorded request to join to the change that recorded it. */
export const pendingJoinsGraceMs = 60_000;

/** Whether the poll should send the device's recorded requests to join (see `sendPendingJoins`). */
export function pendingJoinsOverdue(device: Pick<StoredDevice, 'joins_pending' | 'joins_pending_at'>, now: Date): boolean {
  return device.joins_pending !== undefined && device.joins_pending_at !== undefined && now.getTime() - Date.parse(device.joins_pending_at) >= pendingJoinsGraceMs;
}

/**
 * Lets the device's app join the rollout, if it still should: the rollout and the device are read
 * again, so a request that waited behind other commands decides on what is true now. Nothing here
 * waits for the rollout to change: the request holds up the rollout's message group while it runs.
 */
export async function joinRollout(command: { rollout_id: string; device_uuid: string; app: string }, now: Date): Promise<void> {
  for (let attempt = 0; attempt < 3; attempt++) {
    const rollout = await getRollout(command.rollout_id);
    if (!rollout) return;
    const place = joinPlace(rollout);
    if ('refusal' in place) {
      logger.info('device does not join the rollout', { rollout_id: rollout.id, device_uuid: command.device_uuid, reason: place.refusal });
      return;
    }
    const device = await getStoredDevice(command.device_uuid, true);
    const repository = normaliseRepository(rollout.repository);
    const refusal = device ? joinRefusal(rollout, device, command.app, (image) => normaliseRepository(image) === repository) : 'the device no longer exists';
    if (refusal !== undefined || !device) {
      logger.info('device does not join the rollout', { rollout_id: rollout.id, device_uuid: command.device_uuid, reason: refusal });
      return;
    }
    const row = await writeJoinerRow(rollout, place.batch, device, command.app, now);
    const next = withJoiner(rollout, place, now);
    const joined = {
      type: 'image.device_joined' as const,
      rollout_id: rollout.id,
      device_uuid: device.uuid,
      shard: row.shard,
      subject: command.app,
      timestamp: now.toISOString(),
      details: { app: command.app, batch: place.batch, from_image: row.previous_image, to_image: row.new_image, ...(place.reopens ? { reopened: true } : {}) },
    };
    if (!(await saveRollout(next, [joined]))) continue; // changed meanwhile: decide again on what it is now
    logger.info('device joined the rollout', { rollout_id: rollout.id, device_uuid: device.uuid, app: command.app, batch: place.batch, reopened: place.reopens });
    await scheduleJoiner(next, place.batch, row, now);
    return;
  }
  throw new Error(`rollout ${command.rollout_id} kept changing while device ${command.device_uuid} joined it; retrying`);
}

/** The joiner's row at the next sequence number of its batch's block, with any row another attempt left there cleared. */
async function writeJoinerRow(rollout: Rollout, batchNumber: number, device: Device, appName: string, now: Date): Promise<RolloutDevice> {
  const batch = rollout.batches[batchNumber - 1]!;
  const seq = joinedFirstSeq(batchNumber) + (batch.joined_devices ?? 0);
  const shard = shardOf(device.uuid, rollout.shard_count);
  for (let other = 0; other < rollout.shard_count; other++) if (other !== shard) await deleteRow({ rollout_id: rollout.id, shard: other, seq });
  const app = device.target_apps.find((a) => a.name === appName)!;
  const row: RolloutDevice = {
    rollout_id: rollout.id,
    device_uuid: device.uuid,
    device_name: device.name,
    app: appName,
    seq,
    shard,
    batch: batchNumber,
    status: 'pending',
    previous_image: app.image,
    new_image: rollout.image,
    updated_at: now.toISOString(),
  };
  await putRolloutDevices([row]);
  return row;
}

/** A batch under way schedules its joiner now (a paced one through its scheduler); a later batch when it starts. */
async function scheduleJoiner(rollout: Rollout, batchNumber: number, row: RolloutDevice, now: Date): Promise<void> {
  const batch = rollout.batches[batchNumber - 1]!;
  if (batch.deadline_at && rollout.wake_requested_for === batch.deadline_at) await sendWakeUp(rollout.id, batch.deadline_at, now);
  if (rollout.status !== 'in_progress' || rollout.current_batch !== batchNumber || batch.status !== 'in_progress') return;
  if (pacingOf(rollout.policy)) await sendTargetCommands([{ type: 'schedule_paced', rollout_id: rollout.id, batch: batchNumber, rescan: true }]);
  else await schedulePage(rollout, batch, row.shard, [row], now);
}
