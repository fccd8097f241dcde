/**
 * Putting devices back on the image they ran before. Used by auto-rollback (a batch's failed and
 * unhealthy devices), by an admin (one device, or the whole rollout) and by cancel (devices not yet
 * updated are skipped). The row moves first, then the target, which is restored or fenced (see
 * `restoreTarget`): a schedule racing with a rollback never leaves its target behind.
 */
import pMap from 'p-map';
import { config } from '../config';
import { batchContaining, devicesIn, maxShardCount, seqRangesOf } from '../domain/batch-plan';
import { rolloutRank } from '../domain/push-order';
import { normaliseRepository } from '../registry';
import { countSettleMs, fanOutGraceFor } from '../domain/rollout-progress';
import type { Rollout, RolloutDevice, Sweep } from '../domain/types';
import { noDeadline, type Budget } from '../queues/budget';
import { sendOrchestration, sendRevertCommands, type RevertCommand } from '../queues/messages';
import { fenceRolloutTarget, getStoredDevice, restoreRolloutTarget } from '../store/devices';
import { getRolloutDevice, queryRowsInRanges, reconcileBatchShard } from '../store/rollout-devices';
import { getRollout, markShardSwept, saveRollout, sweptShards } from '../store/rollouts';
import { countMoves, deviceEvent, transitionRow, type Move } from './device-transitions';
import { now as clockNow } from '../clock';

export type RevertOutcome = 'rolled_back' | 'skipped' | 'unchanged' | 'failed';

/** Rows of a sweep's page reverted at once (8, as a schedule's, for the shard partition's sake). */
const revertConcurrency = 8;

/** Reads of a device whose target changed under a restore before the sweep gives up (and retries). */
const restoreAttempts = 5;

/** Sequence numbers have nine digits. */
const maxRowsPerShard = 999_999_999;


/**
 * Reverts one device of the rollout. `to` is what a device that was given the new image becomes;
 * one never given it (pending) is skipped. `batch` is the batch the device belongs to (a row gets
 * its batch number only once scheduled). With `handOver` (a newer push superseded the rollout)
 * the device keeps its target: the newer rollout moves it on from there. Returns what happened,
 * and the image the row returns the device to.
 */
export async function revertDevice(...revert: Parameters<typeof revertRow>): Promise<{ outcome: RevertOutcome; toImage: string }> {
  const { outcome, move, toImage } = await revertRow(...revert);
  await countMoves(revert[1], revert[2], [move]);
  return { outcome, toImage };
}

/** `revertDevice`, leaving the count of its move to the caller. */
async function revertRow(
  rollout: Rollout,
  row: RolloutDevice,
  batch: number,
  to: 'rolled_back' | 'skipped',
  reason: string,
  now: Date,
  handOver = false,
): Promise<{ outcome: RevertOutcome; move?: Move; toImage: string }> {
  const status = row.status === 'pending' ? 'skipped' : to;
  const move = await transitionRow(row, batch, status, now.toISOString(), { extra: { rollback_reason: reason } });
  if (!move) return { outcome: 'unchanged', toImage: row.previous_image };
  if (move.from === 'pending') return { outcome: 'skipped', move, toImage: row.previous_image };
  const returnedTo = handOver ? row.previous_image : await restoreTarget(rollout, row, move.at);
  const restored = returnedTo !== undefined;
  const toImage = returnedTo ?? row.previous_image;
  if (status === 'rolled_back') {
    await deviceEvent('image.device_rolled_back', row, move.at, {
      batch,
      from_image: row.new_image,
      to_image: toImage,
      reason,
      ...(restored ? {} : { note: 'device no longer exists or its app changed; its target was left alone' }),
    });
  }
  if (!move.moved) return { outcome: 'unchanged', move, toImage };
  return { outcome: restored ? status : 'failed', move, toImage };
}

export function batchOf(rollout: Rollout, seq: number): number {
  return batchContaining(rollout.batches, seq)?.number ?? 0;
}

/**
 * Points the device's app back at its previous image if the target it has is still the one this
 * rollout set; a target a newer rollout (or an admin) set since is left alone. The row was
 * scheduled (callers see to it), so a target this rollout has not set may have its write on its
 * way (a scheduling page slow, or cut short): the device is fenced, and the write can no longer
 * land. The row moved before the device is read here, and a schedule reads the device before it
 * moves the row, so every target write of the rollout lands before this read (and is undone) or
 * fails. Returns the image the row returns the device to; undefined when the device or its app
 * is gone.
 */
async function restoreTarget(rollout: Rollout, row: RolloutDevice, at: string): Promise<string | undefined> {
  const rank = rolloutRank(rollout);
  for (let attempt = 0; attempt < restoreAttempts; attempt++) {
    const device = await getStoredDevice(row.device_uuid, true);
    const appIndex = device?.target_apps.findIndex((a) => a.name === row.app) ?? -1;
    if (!device || appIndex === -1) return undefined;
    const setBy = device.target_set_by?.[row.app];
    if (setBy === rank) {
      // Undone already, moved on by an admin, or set by another row of the rollout (planned twice).
      const seq = device.target_set_seq?.[row.app];
      if (device.target_apps[appIndex]!.image !== row.new_image || (seq !== undefined && seq !== row.seq)) return row.previous_image;
      // A schedule records the image to return to on the row before it sets the target, so the
      // row read after this device holds the image that target went with; `row` may be older.
      const previous = (await getRolloutDevice(row))?.previous_image ?? row.previous_image;
      if (await restoreRolloutTarget(device.uuid, appIndex, { app: row.app, from: row.new_image, to: previous }, rank, at)) return previous;
    } else {
      // A newer push's target, or another repository's image, stops the rollout's write as a fence would.
      if ((setBy !== undefined && setBy > rank) || normaliseRepository(device.target_apps[appIndex]!.image) !== normaliseRepository(row.new_image)) return row.previous_image;
      if (await fenceRolloutTarget(device.uuid, appIndex, row.app, rank, row.seq, device.target_version, at)) return row.previous_image;
    }
  }
  throw new Error(`the target of app ${row.app} of device ${row.device_uuid} kept changing while rollout ${rollout.id} restored it`);
}

/**
 * One page of a sweep over a shard: reverts the rows in `command.from`, and makes sure rows already
 * reverted (by an earlier delivery that crashed half-way) no longer target the new image.
 */
export async function revertPage(
  command: RevertCommand,
  now: Date,
  pageSize = 50,
): Promise<{ counts: Record<RevertOutcome, number>; next?: RevertCommand }> {
  const counts: Record<RevertOutcome, number> = { rolled_back: 0, skipped: 0, unchanged: 0, failed: 0 };
  const rollout = await getRollout(command.rollout_id);
  if (!rollout) return { counts };
  // The whole rollout is every row of the shard: also one a planning page wrote just before the
  // rollout ended, which planning never counted in.
  const swept = command.batch ? rollout.batches[command.batch - 1] : undefined;
  if (command.batch && !swept) return { counts };
  const ranges = swept ? seqRangesOf(swept) : [{ first_seq: 0, size: maxRowsPerShard }];
  if (ranges.length === 0) return { counts };
  const page = await queryRowsInRanges(rollout.id, command.shard, ranges, pageSize, command.start_key);
  const handOver = command.hand_over === true;
  const moves = await pMap(
    page.rows,
    async (row) => {
      const batch = batchOf(rollout, row.seq);
      if (command.from.includes(row.status)) {
        const { outcome, move } = await revertRow(rollout, row, batch, command.to, command.reason, now, handOver);
        counts[outcome]++;
        return { batch, move };
      }
      // Rolled back before (by an earlier delivery of this sweep, or another): the move is repeated,
      // which finds it made, makes sure of the target and records its event again under the same id,
      // in case a crash fell between them.
      if (row.status === 'rolled_back') return { batch, move: (await revertRow(rollout, row, batch, 'rolled_back', command.reason, now, handOver)).move };
      if (!handOver && row.status === 'skipped' && row.scheduled_at !== undefined) await restoreTarget(rollout, row, now.toISOString());
      return { batch, move: undefined };
    },
    { concurrency: revertConcurrency },
  );
  // The page's moves, counted with one write per batch (a whole-rollout sweep's page spans batches).
  for (const batch of new Set(moves.map((m) => m.batch))) {
    await countMoves({ rollout_id: rollout.id, shard: command.shard }, batch, moves.filter((m) => m.batch === batch).map((m) => m.move));
  }
  return { counts, ...(page.lastKey ? { next: { ...command, start_key: page.lastKey } } : {}) };
}

/**
 * Runs a sweep message: its pages for as long as the invocation's budget allows, the rest as a new
 * message, then asks batch-advance to look. A pass of an ending's sweep that went over the whole shard and found nothing left to
 * revert notes the shard as swept, which lets batch-advance close the sweep.
 */
export async function runRevertCommand(command: RevertCommand, now: Date, budget: Budget = noDeadline): Promise<void> {
  let current = command;
  let found = command.found ?? 0;
  let slowest = 0;
  for (let page = 0; ; page++) {
    const started = Date.now();
    // Each page is timed on its own.
    const { counts, next } = await revertPage(current, page === 0 ? now : clockNow());
    found += Object.values(counts).reduce((sum, n) => sum + n, 0);
    slowest = Math.max(slowest, Date.now() - started);
    if (!next) break;
    current = { ...next, found };
    if (!budget.allowsPageOf(slowest)) {
      await sendRevertCommands([current]);
      return;
    }
  }
  if (command.sweep && found === 0) await confirmShardSwept(command.rollout_id, command.shard, command.sweep, now);
  await sendOrchestration({ type: 'evaluate', rollout_id: command.rollout_id, reason: 'rollbacks done' }, `reverted-${command.shard}-${command.batch ?? 'all'}-${now.toISOString()}`);
}

/**
 * Notes the shard as swept for the ending the rollout is in, once its counters are recounted. A
 * pass of an earlier ending's sweep (a completed rollout that a device has joined since) notes
 * nothing: the rollout's next ending sweeps again.
 */
async function confirmShardSwept(rolloutId: string, shard: number, ending: Ending, now: Date): Promise<void> {
  const rollout = await getRollout(rolloutId);
  if (rollout?.status !== ending || !(await recountShard(rollout, shard, now))) return;
  await markShardSwept(rollout.id, shard, endingKey(rollout), now.toISOString());
}

/**
 * Recounts the shard's batch counters from its rows: once the rollout has ended, nothing else
 * repairs a count a crash lost, and the counts are the rollout's statistics for good. False while
 * a move may still be on its way to its count (the sweep is then confirmed on a later pass).
 */
async function recountShard(rollout: Rollout, shard: number, now: Date): Promise<boolean> {
  const settledBefore = new Date(now.getTime() - countSettleMs).toISOString();
  for (const batch of rollout.batches) {
    if (devicesIn(batch) === 0) continue;
    if (!(await reconcileBatchShard(rollout.id, shard, batch.number, seqRangesOf(batch), { settledBefore })).stored) return false;
  }
  return true;
}

/** Every ending is swept; a completed rollout's sweep only checks its rows and recounts. */
const endings = ['completed', 'cancelled', 'rolled_back', 'failed'] as const;
type Ending = (typeof endings)[number];

/**
 * Which ending of the rollout a shard's sweep is noted for: a completed rollout a device joined
 * opens again and may complete more than once, each completion at its own time.
 */
function endingKey(rollout: Rollout): string {
  return rollout.completed_at ? `${rollout.status}@${rollout.completed_at}` : rollout.status;
}

/** The sweep an ending starts; the rollout carries it from the write that ends it. */
export function endingSweep(spec: Omit<Sweep, 'requested_at'>, at: string): Sweep {
  return { ...spec, requested_at: at };
}

/** The sweep messages of the rollout's ending, for every shard or the given ones. */
export function sweepCommands(rollout: Rollout, shards?: number[]): RevertCommand[] {
  const sweep = rollout.sweep;
  if (!sweep || !(endings as readonly string[]).includes(rollout.status)) return [];
  const { requested_at: _, ...spec } = sweep;
  const all = revertCommands(rollout, { ...spec, sweep: rollout.status as Ending });
  return shards ? all.filter((command) => shards.includes(command.shard)) : all;
}

/**
 * Batch-advance's part in an ended rollout: closes its sweep once every shard was found clean, and
 * sends the sweep again to the shards that were not when it was asked for longer ago than a
 * fan-out may take (the messages were lost to a crash, or a call failed after the ending).
 */
export async function continueSweep(rollout: Rollout, now: Date): Promise<void> {
  const sweep = rollout.sweep;
  if (!sweep) return;
  const at = now.toISOString();
  const shards = shardsToSweep(rollout);
  const swept = await sweptShards(rollout.id, shards, endingKey(rollout));
  const left = shards.filter((shard) => !swept.has(shard));
  if (left.length === 0) {
    const { sweep: _, ...rest } = rollout;
    await saveRollout({ ...rest, version: rollout.version + 1, updated_at: at });
    return;
  }
  if (now.getTime() - Date.parse(sweep.requested_at) < fanOutGraceFor(config().tickSeconds)) return;
  const next: Rollout = { ...rollout, sweep: { ...sweep, requested_at: at }, version: rollout.version + 1, updated_at: at };
  if (await saveRollout(next)) await sendRevertCommands(sweepCommands(next, left));
}

/** Sweep messages for every shard of the rollout. */
export function revertCommands(rollout: Rollout, spec: Omit<RevertCommand, 'type' | 'rollout_id' | 'shard' | 'start_key'>): RevertCommand[] {
  return shardsToSweep(rollout).map((shard) => ({ type: 'revert_devices' as const, rollout_id: rollout.id, shard, ...spec }));
}

/**
 * The shards that may hold the rollout's rows. Until planning has finished, the rollout does not
 * know its shard count (the first page saves it, and a page whose save lost to a cancel wrote
 * its rows all the same), so a sweep then looks in every shard there can be.
 */
function shardsToSweep(rollout: Rollout): number[] {
  const count = rollout.planning.done ? Math.max(1, rollout.shard_count) : maxShardCount;
  return Array.from({ length: count }, (_, shard) => shard);
}
