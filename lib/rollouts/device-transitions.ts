/**
 * What happens to one device in a rollout: it is scheduled (its target state gets the new image),
 * it reports the new image running (updated) or an error (failed), or it stays silent past the
 * batch deadline (failed). Each move is a conditional transition of its row, then a count, then
 * an event; a repeat finds the row already moved, counts nothing, and records the event again
 * under the same id (derived from the transition's time), so a crash between a move and its
 * event never loses the event (DESIGN §6, invariant 9).
 */
import pMap from 'p-map';
import { reportedDigest, reportOutcome, splitDigest, type StateReportFacts } from '../domain/device-report';
import { rolloutIdOfRank, rolloutRank } from '../domain/push-order';
import { pacingOf } from '../domain/pacing';
import { countSettleMs, deviceStatusesLeadingTo } from '../domain/rollout-progress';
import type { Batch, DeviceRolloutStatus, EventType, ReportedApp, Rollout, RolloutDevice, RolloutPointer } from '../domain/types';
import { logger } from '../logger';
import { countDeviceMove } from '../metrics';
import { noDeadline, type Budget } from '../queues/budget';
import { sendOrchestration, sendTargetCommands, type SetTargetsCommand, type TargetCommand } from '../queues/messages';
import { normaliseRepository } from '../registry';
import { clearRolloutPointer, getDevicesByUuid, getStoredDevice, setRolloutTarget, type SettledPointer, type StoredDevice } from '../store/devices';
import { appendEvent, appendEvents, appendMissingEvents, type NewEvent } from '../store/events';
import { seqRangesOf } from '../domain/batch-plan';
import { countTransitions, getRolloutDevice, reconcileBatchShard, recordPreviousImage, rowsInRanges, transitionRolloutDevice, type RowRef } from '../store/rollout-devices';
import { shardOf } from '../store/keys';
import { getRollout } from '../store/rollouts';
import { workBatchShard } from './batch-shard';

/**
 * Rows read per page of a schedule, and devices of a page scheduled at once. Each device's row
 * moves in its shard's partition: at DynamoDB's few milliseconds a write, 8 at a time keeps one
 * shard's schedule (with its events) near 700 write units a second, below the 1,000 a
 * partition takes, leaving room for the reports that follow.
 */
const schedulePageSize = 100;
const scheduleConcurrency = 8;

/**
 * A row's move: `moved` when this call made it (`from` is where it came from); not moved when the
 * row was already in the target status, which a retry after a crash sees: `at` is then the time
 * of the earlier move, for recording its event again under the same id.
 */
export interface Move {
  moved: boolean;
  from?: DeviceRolloutStatus;
  to: DeviceRolloutStatus;
  at: string;
}

/** Moves a row, not counting it (see `countMoves`); undefined when the row is neither movable nor already there. */
export async function transitionRow(
  row: RowRef,
  batch: number,
  to: DeviceRolloutStatus,
  at: string,
  details: { error?: string; extra?: Record<string, unknown> } = {},
): Promise<Move | undefined> {
  const from = await transitionRolloutDevice(row, deviceStatusesLeadingTo(to), to, { batch, at, ...details });
  if (from) {
    // This call made the move (its conditional write succeeded); the retry below counts nothing.
    countDeviceMove(to);
    return { moved: true, from, to, at };
  }
  const current = await getRolloutDevice(row);
  return current?.status === to ? { moved: false, to, at: current.updated_at } : undefined;
}

/**
 * Counts the moves of one shard's rows in one batch with one write. When the shard then has no
 * device left on its way to the new image, batch-advance is asked to look: this may have been the
 * last device of the batch (the tick would notice too, later). A crash before the count loses it;
 * the counters are hints, and what a decision rests on is recounted from the rows.
 */
export async function countMoves(shard: Omit<RowRef, 'seq'>, batch: number, moves: readonly (Move | undefined)[]): Promise<void> {
  const made = moves.filter((move): move is Move & { from: DeviceRolloutStatus } => move?.moved === true && move.from !== undefined);
  // A row outside every batch (planned, then the rollout ended before its batches were) has no counter.
  if (made.length === 0 || batch === 0) return;
  const shardCounts = await countTransitions(shard, batch, made);
  if (shardCounts.scheduled <= 0 && made.some((move) => move.from === 'scheduled' || move.from === 'pending')) {
    const last = made[made.length - 1]!;
    await sendOrchestration({ type: 'evaluate', rollout_id: shard.rollout_id, reason: `device ${last.to}` }, `shard-${shard.shard}-batch-${batch}-${last.to}-${last.at}`);
  }
}

/** Moves one row and counts it: `transitionRow`, then `countMoves`. */
export async function moveRow(...move: Parameters<typeof transitionRow>): Promise<Move | undefined> {
  const made = await transitionRow(...move);
  await countMoves(move[0], move[1], [made]);
  return made;
}

/** A device fact in the rollout's log; its id comes from the device, the app, the type and `at`. */
export function deviceFact(
  type: EventType,
  row: Pick<RolloutDevice, 'rollout_id' | 'device_uuid' | 'shard' | 'app'>,
  at: string,
  details: Record<string, unknown>,
): NewEvent {
  return { type, rollout_id: row.rollout_id, device_uuid: row.device_uuid, shard: row.shard, subject: row.app, timestamp: at, details: { app: row.app, ...details } };
}

/** Records one device fact (see `deviceFact`). */
export async function deviceEvent(...fact: Parameters<typeof deviceFact>): Promise<void> {
  await appendEvent(deviceFact(...fact));
}

/**
 * Hands a batch's devices to the target queue: one message per shard, each scheduling its devices
 * a page at a time; a paced batch's go to its one scheduler instead (lib/rollouts/pacing.ts).
 */
export async function fanOutTargets(rollout: Rollout, batch: number, options: { rescan?: boolean } = {}): Promise<void> {
  if (pacingOf(rollout.policy)) {
    await sendTargetCommands([{ type: 'schedule_paced', rollout_id: rollout.id, batch, ...(options.rescan ? { rescan: true } : {}) }]);
    return;
  }
  const shards = Array.from({ length: rollout.shard_count }, (_, shard) => shard);
  await sendTargetCommands(shards.map((shard) => ({ type: 'set_targets' as const, rollout_id: rollout.id, batch, shard })));
}

/** Schedules a shard's devices for a batch (see `workBatchShard`), handing the rest on when time runs short. */
export async function scheduleShard(command: SetTargetsCommand, now: Date, budget: Budget = noDeadline): Promise<void> {
  const rest = await workBatchShard(command, scheduling, schedulePageSize, now, budget, ({ rollout, batch }, rows, pageNow) =>
    schedulePage(rollout, batch, command.shard, rows, pageNow),
  );
  if (rest.startKey) await sendTargetCommands([{ ...command, start_key: rest.startKey }]);
}

export function scheduling(rollout: Rollout | undefined, number: number): { rollout: Rollout; batch: Batch } | undefined {
  if (!rollout || rollout.status !== 'in_progress' || rollout.current_batch !== number) return undefined;
  const batch = rollout.batches[number - 1];
  return batch?.status === 'in_progress' ? { rollout, batch } : undefined;
}

/**
 * One page, its waiting devices at once: each row moves to `scheduled` (or `skipped`, when the
 * device can no longer take the image), then the page's events are recorded, then the targets
 * set; the moves are counted with one write. The device is read before its row moves, and a
 * rollback or cancel that reverts the row in between fences the device: the target write then
 * fails, or landed first and is undone by the revert (lib/rollouts/rollbacks.ts).
 * `paced`: the batch is paced, and the devices' pointers say so (their reports wake its scheduler).
 */
export async function schedulePage(rollout: Rollout, batch: Batch, shard: number, rows: RolloutDevice[], now: Date, paced = false): Promise<void> {
  const waiting = rows.filter((row) => row.status === 'pending' || row.status === 'scheduled');
  if (waiting.length === 0) return;
  const devices = new Map((await getDevicesByUuid(waiting.map((r) => r.device_uuid))).map((d) => [d.uuid, d]));
  const rank = rolloutRank(rollout);
  const prepared = await pMap(waiting, (row) => prepareDevice(batch, row, devices.get(row.device_uuid), rank, now), { concurrency: scheduleConcurrency });
  const ready = prepared.flatMap((p) => (p.ready ? [p.ready] : []));
  // The events before the targets: once a device has its new target it may report and move its
  // row on, and a retry of this page after a crash or a failed call would no longer find the row
  // waiting to record it (invariant 9). Their ids come from `at`, so a retry writes them once.
  // A row scheduled by an earlier attempt may have its event already: looked for, not written again.
  const fact = (r: Ready) => deviceFact('image.device_scheduled', r.row, r.at, { batch: batch.number, from_image: r.previous.image, to_image: r.row.new_image });
  await appendEvents(ready.filter((r) => r.movedNow).map(fact));
  await appendMissingEvents(ready.filter((r) => !r.movedNow).map(fact));
  const skipped = await pMap(ready, (r) => setNewTarget(rollout, batch, r, rank, now, paced), { concurrency: scheduleConcurrency });
  await countMoves({ rollout_id: rollout.id, shard }, batch.number, [...prepared.flatMap((p) => p.moves), ...skipped]);
}

async function skip(row: RolloutDevice, batch: number, reason: string, now: Date): Promise<Move | undefined> {
  const move = await transitionRow(row, batch, 'skipped', now.toISOString(), { error: reason });
  if (move) await deviceEvent('image.device_skipped', row, move.at, { batch, reason });
  return move;
}

/** A device whose row is scheduled, ready for its new target. */
interface Ready {
  row: RolloutDevice;
  device: StoredDevice;
  appIndex: number;
  /** The image to return to, as worked out from `device`. */
  previous: { image: string; digest?: string };
  /** When it was scheduled: the id of its event. */
  at: string;
  /** Whether this attempt moved the row (else an earlier one did, and may have recorded its event). */
  movedNow: boolean;
}

/** Moves one device's row to `scheduled` (or `skipped`) and works out the image it returns to. */
async function prepareDevice(batch: Batch, row: RolloutDevice, device: StoredDevice | undefined, rank: string, now: Date): Promise<{ moves: (Move | undefined)[]; ready?: Ready }> {
  const appIndex = device?.target_apps.findIndex((a) => a.name === row.app) ?? -1;
  const target = device?.target_apps[appIndex]?.image;
  if (!device || !target || normaliseRepository(target) !== normaliseRepository(row.new_image)) {
    const reason = !device ? 'device no longer exists' : !target ? `device no longer has an app named ${row.app}` : `its app ${row.app} now runs another repository (${target})`;
    return { moves: [await skip(row, batch.number, reason, now)] };
  }
  const at = row.scheduled_at ?? now.toISOString();
  const moves: (Move | undefined)[] = [];
  if (row.status === 'pending') {
    const move = await transitionRow(row, batch.number, 'scheduled', at, { extra: { scheduled_at: at } });
    moves.push(move);
    if (!move?.moved) return { moves }; // it moved on already: the device reported, or the rollout was reverted
  }
  const previous = device.target_set_by?.[row.app] === rank ? { image: row.previous_image } : await imageToReturnTo(device, row, target);
  return { moves, ready: { row, device, appIndex, previous, at, movedNow: row.status === 'pending' } };
}

/**
 * Sets a scheduled device's new target; skips it when a newer push took it over or its app left
 * the repository, and returns the skip's move.
 */
async function setNewTarget(rollout: Rollout, batch: Batch, ready: Ready, rank: string, now: Date, paced: boolean): Promise<Move | undefined> {
  const { row, device, appIndex, previous, at } = ready;
  const result = await moveToNewImage(device, appIndex, row, rollout, batch.number, rank, at, previous, paced);
  if (result.outcome === 'set') return undefined;
  const reason =
    result.outcome === 'taken_over'
      ? `a newer push of ${rollout.repository} has taken the device over`
      : result.outcome === 'planned_twice'
        ? `app ${row.app} of the device is in this rollout twice (its labels changed while the rollout was planned); its row ${result.seq} moved it`
        : `the target of app ${row.app} left the repository while it was being scheduled`;
  return skip(row, batch.number, reason, now);
}

/**
 * The image to return to on rollback: what the app targets now, pinned to the digest the device
 * reported running it at, so that rolling back a moving tag brings back the old content. When
 * that is the very reference this rollout sets (an earlier push of the same tag, no digest to
 * tell the two apart, handed over by its superseded rollout), returning to it would change
 * nothing: the device returns to where that earlier rollout would have returned it.
 */
async function imageToReturnTo(device: StoredDevice, row: RolloutDevice, target: string): Promise<{ image: string; digest?: string }> {
  const pinned = pinnedImage(target, device.current_apps.find((a) => a.name === row.app));
  const setBy = device.target_set_by?.[row.app];
  if (pinned.image !== row.new_image || !setBy) return pinned;
  const earlier = await getRollout(rolloutIdOfRank(setBy));
  const seq = device.target_set_seq?.[row.app];
  if (!earlier || earlier.shard_count === 0 || seq === undefined) return pinned;
  const earlierRow = await getRolloutDevice({ rollout_id: earlier.id, shard: shardOf(device.uuid, earlier.shard_count), seq });
  if (!earlierRow || earlierRow.device_uuid !== device.uuid || earlierRow.app !== row.app || earlierRow.previous_image === row.new_image) return pinned;
  return { image: earlierRow.previous_image, ...(earlierRow.previous_digest ? { digest: earlierRow.previous_digest } : {}) };
}

function pinnedImage(target: string, reported: ReportedApp | undefined): { image: string; digest?: string } {
  const running = reported && splitDigest(reported.image).name === splitDigest(target).name ? reportedDigest(reported) : undefined;
  if (splitDigest(target).digest || !running) return { image: target, ...(running ? { digest: running } : {}) };
  return { image: `${target}@${running}`, digest: running };
}

type NewImageResult = { outcome: 'set'; previous: string } | { outcome: 'taken_over' | 'left_repository' } | { outcome: 'planned_twice'; seq: number };

/**
 * Sets the new image as the app's target, from whatever image of the repository it targets now:
 * an older rollout or an admin may have moved it since planning. The row then remembers that
 * image as the one to roll back to. A target a newer push's rollout set is never overwritten.
 */
async function moveToNewImage(
  device: StoredDevice,
  appIndex: number,
  row: RolloutDevice,
  rollout: Rollout,
  batch: number,
  rank: string,
  at: string,
  /** The image to return to, as worked out from `device`. */
  previousOfDevice: { image: string; digest?: string },
  paced: boolean,
): Promise<NewImageResult> {
  let latest: StoredDevice | undefined = device;
  let recorded: { image: string; digest?: string } = { image: row.previous_image, ...(row.previous_digest ? { digest: row.previous_digest } : {}) };
  for (let attempt = 0; attempt < 3 && latest; attempt++) {
    const app = latest.target_apps[appIndex];
    const setBy = latest.target_set_by?.[row.app];
    if (setBy === rank) {
      // Another row of this rollout set it: planning met the device in two passes of its batch order.
      const seq = latest.target_set_seq?.[row.app];
      if (seq !== undefined && seq !== row.seq) return { outcome: 'planned_twice', seq };
      return { outcome: 'set', previous: row.previous_image }; // by an earlier delivery of this command
    }
    if (setBy !== undefined && setBy > rank) return { outcome: 'taken_over' };
    if (app?.name !== row.app || normaliseRepository(app.image) !== normaliseRepository(row.new_image)) return { outcome: 'left_repository' };
    const previous = latest === device ? previousOfDevice : await imageToReturnTo(latest, row, app.image);
    // The row learns the image before the device gets its new target: once the target is set, an
    // attempt cut short here would leave it unrecorded, and a retry finds the target already set
    // (and the device may have reported and moved the row on).
    if (previous.image !== recorded.image || previous.digest !== recorded.digest) {
      await recordPreviousImage(row, previous.image, previous.digest);
      recorded = previous;
    }
    const replaced = latest.rollouts?.[row.app];
    if (replaced && replaced.rollout_id !== rollout.id) await recordReportCutShort(device.uuid, row.app, replaced);
    const pointer = rolloutPointer(rollout, row, batch, previous.digest, paced);
    const change = { app: row.app, from: app.image, to: row.new_image, version: latest.target_version };
    if (await setRolloutTarget(device.uuid, appIndex, change, rank, pointer, at)) return { outcome: 'set', previous: previous.image };
    latest = await getStoredDevice(device.uuid, true);
  }
  return { outcome: 'left_repository' };
}

/**
 * An older rollout's pointer a new target is about to replace: a report may have moved its row
 * and been cut short before the row's event, which the device's next report would have recorded
 * through the pointer. The event is recorded here, if it is missing, before the pointer goes.
 */
async function recordReportCutShort(uuid: string, app: string, pointer: RolloutPointer): Promise<void> {
  const row = await getRolloutDevice({ rollout_id: pointer.rollout_id, shard: pointer.shard, seq: pointer.seq });
  if (!row || row.device_uuid !== uuid || row.app !== app || (row.status !== 'updated' && row.status !== 'failed')) return;
  await appendMissingEvents([reportFact(row, row.status, row.updated_at, pointer, row.error)]);
}

/** The event of a row a report moved, under the id its move's time gives it. */
function reportFact(row: RowRef & { app: string; device_uuid: string }, to: 'updated' | 'failed', at: string, pointer: RolloutPointer, reason: string | undefined): NewEvent {
  return deviceFact(to === 'updated' ? 'image.device_updated' : 'image.device_failed', row, at, { batch: pointer.batch, image: pointer.image, ...(reason ? { reason } : {}) });
}

/**
 * The pointer a device keeps while its row waits for its report: what the report settles.
 * `paced`: the batch's scheduler holds a budget, which the device's settling frees (`budgeted`).
 */
export function rolloutPointer(rollout: Rollout, row: RolloutDevice, batch: number, previousDigest: string | undefined, paced: boolean): Omit<RolloutPointer, 'target_version'> {
  return {
    rollout_id: rollout.id,
    shard: row.shard,
    seq: row.seq,
    batch,
    image: row.new_image,
    ...(rollout.digest ? { digest: rollout.digest } : {}),
    ...(previousDigest ? { previous_digest: previousDigest } : {}),
    ...(paced && rollout.policy.max_unavailable ? { budgeted: true } : {}),
  };
}

/**
 * What a device's report means for each rollout the device item says it is part of: each row the
 * report settles is moved and counted and its event written. Returns the pointers that may now
 * go; they go with the write that records the report (or, given `clear`, one by one here). The
 * event comes before its pointer goes: a crash in between leaves the pointer, so the device's
 * next report records it (or, if a newer rollout's target comes first, that rollout's schedule).
 */
export async function applyReport(device: StoredDevice, report: StateReportFacts, now: Date, options: { clear?: boolean } = {}): Promise<SettledPointer[]> {
  const at = now.toISOString();
  const settled: SettledPointer[] = [];
  const wakes: TargetCommand[] = [];
  for (const [appName, pointer] of Object.entries(device.rollouts ?? {})) {
    const outcome = reportOutcome(appName, pointer, report);
    if (!outcome) continue;
    const row = { rollout_id: pointer.rollout_id, device_uuid: device.uuid, shard: pointer.shard, seq: pointer.seq, app: appName };
    const reason = outcome.to === 'failed' ? outcome.reason : undefined;
    const move = await moveRow(row, pointer.batch, outcome.to, at, reason ? { error: reason } : {});
    if (move) {
      await appendEvent(reportFact(row, outcome.to, move.at, pointer, reason));
      if (pointer.budgeted) wakes.push({ type: 'check_paced', rollout_id: pointer.rollout_id, batch: pointer.batch, shard: pointer.shard, first_seq: pointer.seq, size: 1, settled: true });
    }
    if (options.clear) await clearRolloutPointer(device.uuid, appName, pointer.rollout_id);
    else settled.push({ app: appName, rollout_id: pointer.rollout_id });
  }
  if (wakes.length > 0) await wakePacedSchedulers(wakes);
  return settled;
}

/**
 * A device of a rollout with a `max_unavailable` budget settled: its scheduler may go on (the
 * budget has room again), and a failure is rolled back at once when auto-rollback is on. A lost wake-up costs time, not the report: the
 * scheduler's own hand-ons and batch-advance's fallback go on without it.
 */
async function wakePacedSchedulers(wakes: TargetCommand[]): Promise<void> {
  try {
    await sendTargetCommands(wakes);
  } catch (error) {
    logger.warn('could not wake the paced scheduler; it goes on at its next hand-on or fallback', { error });
  }
}

/**
 * The batch deadline has passed: every device still not updated fails, and the batch's counters
 * are recounted from its rows (repairing any count a crash skipped).
 */
export async function timeOutBatch(rollout: Rollout, batch: Batch, now: Date, notScheduledReason?: string): Promise<void> {
  const reason = `no update reported within ${rollout.policy.update_timeout_minutes} minutes`;
  // A paced batch's devices never scheduled were held back by its pacing, not silent.
  const notScheduled = notScheduledReason ?? (pacingOf(rollout.policy) ? 'not scheduled before the batch deadline: its pacing held the device back' : reason);
  const at = now.toISOString();
  let timedOut = 0;
  for (let shard = 0; shard < rollout.shard_count; shard++) {
    for await (const row of rowsInRanges(rollout.id, shard, seqRangesOf(batch))) {
      if (row.status !== 'pending' && row.status !== 'scheduled') continue;
      const why = row.status === 'pending' ? notScheduled : reason;
      const move = await moveRow(row, batch.number, 'failed', at, { error: why });
      if (!move) continue;
      await deviceEvent('image.device_failed', row, move.at, { batch: batch.number, image: row.new_image, reason: why });
      await clearRolloutPointer(row.device_uuid, row.app, row.rollout_id);
      if (move.moved) timedOut++;
    }
    await reconcileBatchShard(rollout.id, shard, batch.number, seqRangesOf(batch), { settledBefore: new Date(now.getTime() - countSettleMs).toISOString() });
  }
  if (timedOut > 0) logger.info('batch timed out', { rollout_id: rollout.id, batch: batch.number, timedOut });
}

