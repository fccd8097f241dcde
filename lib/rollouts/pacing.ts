/**
 * Scheduling a paced batch (a policy with `max_devices_per_minute` or `max_unavailable`; the rules
 * are lib/domain/pacing.ts). Where an unpaced batch fans out one message per shard, all working at
 * once, a paced batch has one scheduler per rollout: whichever `schedule_paced` message holds the
 * rollout's lease (lib/store/pacing.ts) goes through the batch's shards a page at a time, from the
 * position it saved, giving each page's devices no more than the rate and the budget allow. One
 * at a time is what makes both limits hold: the rate's group is its own, and the counters it reads
 * for the budget hold every move it made (each page is counted before the next is claimed).
 *
 * What the rest waits for:
 * - the rate: the lease is kept until the next group opens, and a delayed message to itself goes
 *   on then (a message that finds the lease held notes a wake-up and ends);
 * - the budget: the lease is let go, and the next device to settle wakes the scheduler (a device
 *   report, a per-device time-out, a rollback: `check_paced`). A wake-up that comes while the
 *   lease is held is noted on the item; the holder lets go only if none came since it last read
 *   the counters, else it looks again, so no wake-up is lost between its look and its letting go.
 * Batch-advance asks again when its last request is older than the fan-out grace
 * (`continue_scheduling`): a crash that lost the scheduler's message, or a lease a dead
 * invocation held, costs that much time and never a device.
 *
 * A paced device times out by itself `update_timeout_minutes` after it was scheduled (at the
 * earliest that long after a resume): each page it schedules sends a delayed `check_paced` for its
 * rows. With a budget and auto-rollback, a failed device is rolled back at once, since the budget
 * waits on it; without auto-rollback, failures that fill the budget end the batch
 * (`continue_scheduling` with `held_by_failures`) rather than leave it waiting for its deadline.
 */
import { revertedAutomatically } from '../domain/rollout-control';
import { allowance, budgetRoom, claimRate, pacingOf, type Pacing } from '../domain/pacing';
import { countSettleMs, type NextStep } from '../domain/rollout-progress';
import type { Batch, BatchCounts, Rollout, RolloutDevice } from '../domain/types';
import { logger } from '../logger';
import { noDeadline, type Budget } from '../queues/budget';
import { sendRevertCommands, sendTargetCommandLater, sendTargetCommands, type CheckPacedCommand, type SchedulePacedCommand, type TargetCommand } from '../queues/messages';
import { maxDelaySeconds } from '../queues/wake-up';
import { clearRolloutPointer } from '../store/devices';
import { getPace, notePaceWake, takePaceLease, updatePace, type PacePosition, type PaceState } from '../store/pacing';
import { seqRangesOf } from '../domain/batch-plan';
import { getAllBatchCounts, keyAfter, queryRowsInRanges, reconcileBatchShard, rowsInRange } from '../store/rollout-devices';
import { getRollout, saveRollout } from '../store/rollouts';
import { now as clockNow } from '../clock';
import { deviceEvent, fanOutTargets, moveRow, schedulePage, scheduleShard, scheduling, timeOutBatch } from './device-transitions';
import { revertCommands, revertDevice } from './rollbacks';

/** Rows read per page, as an unpaced schedule's. */
const pageSize = 100;

/**
 * How long a lease lasts while its holder works: twice the function's timeout, so a live holder
 * never outlasts it and a crashed one holds the rollout up no longer than that.
 */
const workLeaseMs = 60_000;

/** The targets queue's messages: an unpaced shard's schedule, a paced batch's scheduler, a check of paced devices. */
export async function runTargetCommand(command: TargetCommand, messageId: string, now: Date, budget: Budget = noDeadline): Promise<void> {
  switch (command.type) {
    case 'set_targets':
      return scheduleShard(command, now, budget);
    case 'schedule_paced':
      return schedulePaced(command, messageId, now, budget);
    case 'check_paced':
      return checkPaced(command, messageId, now, budget);
  }
}

const later = (from: Date, ms: number) => new Date(from.getTime() + ms).toISOString();

/**
 * Runs the rollout's paced scheduler for its batch under way, if this message may hold the lease:
 * it carries the holder's token (a hand-on), or no lease is live. `messageId` is a new request's
 * token, so a redelivery after a crash takes up the lease its first delivery held.
 */
export async function schedulePaced(command: SchedulePacedCommand, messageId: string, now: Date, budget: Budget = noDeadline): Promise<void> {
  const rollout = await getRollout(command.rollout_id);
  // The batch under way, whichever the message was sent for: a hand-on of a batch that has ended
  // takes the lease on to the next.
  const first = rollout && scheduling(rollout, rollout.current_batch);
  const pacing = first && pacingOf(first.rollout.policy);
  if (!first || !pacing) return;
  const token = command.token ?? messageId;
  const pace = await takeLease(first.rollout.id, token, now);
  if (!pace) return; // the holder goes on, and has been told to look again
  const position = positionFor(pace.position, first.batch.number, command.rescan === true);
  await new PacedScheduler(first.rollout, first.batch, pacing, token, pace, position, budget).run(now);
}

/** Takes the lease, or notes a wake-up for its live holder (then undefined). */
async function takeLease(rolloutId: string, token: string, now: Date): Promise<PaceState | undefined> {
  for (let attempt = 0; attempt < 3; attempt++) {
    const pace = await takePaceLease(rolloutId, token, later(now, workLeaseMs), now.toISOString());
    if (pace) return pace;
    if (await notePaceWake(rolloutId, now.toISOString())) return undefined;
    // The lease ran out between the two: try to take it again.
  }
  return undefined;
}

function positionFor(saved: PacePosition | undefined, batch: number, rescan: boolean): PacePosition {
  if (!saved || saved.batch !== batch || (rescan && saved.done)) return { batch, shard: 0, done: false };
  return saved;
}

class PacedScheduler {
  private rollout: Rollout;
  private batch: Batch;

  constructor(
    rollout: Rollout,
    batch: Batch,
    private readonly pacing: Pacing,
    private readonly token: string,
    private pace: PaceState,
    private position: PacePosition,
    private readonly budget: Budget,
  ) {
    this.rollout = rollout;
    this.batch = batch;
  }

  private get id(): string {
    return this.rollout.id;
  }

  async run(now: Date): Promise<void> {
    let slowest = 0;
    for (let page = 0; ; page++) {
      const started = Date.now();
      if (page > 0) {
        const state = scheduling(await getRollout(this.id), this.batch.number);
        // Paused, cancelled, or the batch has ended: let go; a resume or the next batch asks again.
        if (!state) return void (await updatePace(this.id, this.token, { lease_until: clockNow().toISOString() }));
        ({ rollout: this.rollout, batch: this.batch } = state);
      }
      if (this.position.done) {
        await updatePace(this.id, this.token, { position: this.position, lease_until: clockNow().toISOString() });
        return;
      }
      const goOn = await this.step(page === 0 ? now : clockNow());
      if (!goOn) return;
      slowest = Math.max(slowest, Date.now() - started);
      if (!this.budget.allowsPageOf(slowest)) {
        // Out of time: the lease goes on with a message to itself.
        if (!(await updatePace(this.id, this.token, { lease_until: later(clockNow(), workLeaseMs) }))) return;
        await sendTargetCommands([{ type: 'schedule_paced', rollout_id: this.id, batch: this.batch.number, token: this.token }]);
        return;
      }
    }
  }

  /** One page from the position: false when the scheduler stops here (held, let go, or lost its lease). */
  private async step(pageNow: Date): Promise<boolean> {
    const { shard } = this.position;
    const page = await queryRowsInRanges(this.id, shard, seqRangesOf(this.batch), pageSize, this.position.start_key);
    const pending = page.rows.filter((row) => row.status === 'pending');
    let at = pageNow;
    let granted = 0;
    let held: ReturnType<typeof allowance> | undefined;
    if (pending.length > 0) {
      const counts = this.pacing.maxUnavailable === null ? undefined : await getAllBatchCounts(this.id, this.rollout.shard_count);
      // The time the page's devices are scheduled at, taken after the counts were read: an update
      // those counts saw was recorded before it.
      at = clockNow();
      held = allowance(this.pacing, pending.length, this.pace.rate, counts, at);
      granted = held.granted;
      if (granted === 0 && held.heldBy === 'budget') return this.letGoUnlessWoken();
      if (granted > 0 && this.pacing.maxPerMinute !== null) {
        const rate = claimRate(this.pace.rate, granted, at);
        if (!(await updatePace(this.id, this.token, { rate }))) return false; // taken over
        this.pace = { ...this.pace, rate };
      }
    }
    // The page up to its last granted device (and the rows before it that are done already).
    const end = granted >= pending.length ? page.rows.length : page.rows.indexOf(pending[granted]!);
    const rows = page.rows.slice(0, end);
    const waiting = rows.filter((row) => row.status === 'pending' || row.status === 'scheduled');
    if (waiting.length > 0) {
      await schedulePage(this.rollout, this.batch, shard, rows, at, true);
      await this.checkLater(shard, waiting);
    }
    this.position =
      end === page.rows.length
        ? page.lastKey
          ? { ...this.position, start_key: page.lastKey }
          : shard + 1 < this.rollout.shard_count
            ? { batch: this.batch.number, shard: shard + 1, done: false }
            : { batch: this.batch.number, shard, done: true }
        : rows.length > 0
          ? { ...this.position, start_key: keyAfter(rows[rows.length - 1]!) }
          : this.position;
    if (!(await updatePace(this.id, this.token, { position: this.position }))) return false;
    if (held?.heldBy === 'rate') {
      // Kept until the next group opens, when the message to itself arrives.
      if (!(await updatePace(this.id, this.token, { lease_until: held.opensAt }))) return false;
      await sendTargetCommandLater({ type: 'schedule_paced', rollout_id: this.id, batch: this.batch.number, token: this.token }, (Date.parse(held.opensAt!) - clockNow().getTime()) / 1000);
      return false;
    }
    // Held by the budget after some were granted: the next page finds it full and lets go.
    return true;
  }

  /**
   * The budget is full: lets go of the lease, unless a device settled since the counts were read
   * (a wake-up was noted, or the counts now have room); then goes on.
   */
  private async letGoUnlessWoken(): Promise<boolean> {
    const pace = await getPace(this.id);
    if (pace.lease_token !== this.token) return false; // taken over: the taker goes on
    const counts = await getAllBatchCounts(this.id, this.rollout.shard_count);
    if (budgetRoom(this.pacing.maxUnavailable!, counts) > 0) return true;
    if (await updatePace(this.id, this.token, { lease_until: clockNow().toISOString() }, pace.wakes)) return false;
    // Woken meanwhile: look again (unless it was a take-over that made the write fail).
    return (await getPace(this.id)).lease_token === this.token;
  }

  /** A delayed look at the rows just scheduled, for those still on their way at their update timeout. */
  private async checkLater(shard: number, rows: RolloutDevice[]): Promise<void> {
    // One look per range of the batch (planned, joined): a span across both would take in other batches' rows.
    for (const range of seqRangesOf(this.batch)) {
      const seqs = rows.map((row) => row.seq).filter((seq) => seq >= range.first_seq && seq < range.first_seq + range.size);
      if (seqs.length === 0) continue;
      const first = Math.min(...seqs);
      const command: CheckPacedCommand = { type: 'check_paced', rollout_id: this.id, batch: this.batch.number, shard, first_seq: first, size: Math.max(...seqs) - first + 1 };
      await sendTargetCommandLater(command, this.rollout.policy.update_timeout_minutes * 60);
    }
  }
}

/**
 * Looks at paced devices: those still scheduled past their update timeout fail (unless `settled`:
 * a device's report, which looks only once); failed ones are rolled back at once when the budget
 * waits on them and auto-rollback is on. Comes back for the rows not yet due, then wakes the
 * scheduler: a device that settled may have made room.
 */
export async function checkPaced(command: CheckPacedCommand, messageId: string, now: Date, budget: Budget = noDeadline): Promise<void> {
  const rollout = await getRollout(command.rollout_id);
  const batch = rollout?.batches[command.batch - 1];
  // A batch that has ended times out and rolls back its devices itself.
  if (!rollout || !batch || batch.status !== 'in_progress' || rollout.current_batch !== batch.number) return;
  const policy = rollout.policy;
  const timeoutMs = policy.update_timeout_minutes * 60_000;
  if (rollout.status !== 'in_progress') {
    // Paused: the timeouts wait, and count again from the resume.
    if (rollout.status === 'paused' && !command.settled) await sendTargetCommandLater(command, Math.min(maxDelaySeconds, timeoutMs / 1000));
    return;
  }
  const rollBack = policy.max_unavailable != null && policy.auto_rollback_enabled;
  const resumedMs = batch.resumed_at ? Date.parse(batch.resumed_at) : 0;
  const reason = `no update reported within ${policy.update_timeout_minutes} minutes of being scheduled`;
  const at = now.toISOString();
  let nextDue: number | undefined;
  let settled = 0;
  for await (const found of rowsInRange(rollout.id, command.shard, command.first_seq, command.size)) {
    let row = found;
    if (row.status === 'scheduled' && !command.settled) {
      const due = Math.max(Date.parse(row.scheduled_at ?? row.updated_at), resumedMs) + timeoutMs;
      if (due > now.getTime()) {
        nextDue = Math.min(nextDue ?? due, due);
        continue;
      }
      const move = await moveRow(row, batch.number, 'failed', at, { error: reason });
      if (!move) continue;
      await deviceEvent('image.device_failed', row, move.at, { batch: batch.number, image: row.new_image, reason });
      await clearRolloutPointer(row.device_uuid, row.app, row.rollout_id);
      row = { ...row, status: 'failed' };
      settled++;
    }
    if (rollBack && row.status === 'failed') {
      await revertDevice(rollout, row, batch.number, 'rolled_back', 'automatic rollback: the device failed its update, and the max_unavailable budget waits on it', now);
      settled++;
    }
  }
  if (nextDue !== undefined) await sendTargetCommandLater(command, (nextDue - now.getTime()) / 1000);
  if (settled > 0 || command.settled) await schedulePaced({ type: 'schedule_paced', rollout_id: rollout.id, batch: batch.number }, messageId, clockNow(), budget);
}

/**
 * Batch-advance's `continue_scheduling`: gives the batch up when failures hold its budget for good
 * (the devices never scheduled fail with the reason, and the rollout pauses on its failure rate
 * or goes on), else asks the scheduler to go on after recounting the batch (a count lost to a
 * crash must not hold the budget) and rolling back failures the budget waits on, noting when it
 * asked so that it asks again only a fan-out grace later.
 */
export async function continueScheduling(rollout: Rollout, step: Extract<NextStep, { type: 'continue_scheduling' }>, counts: ReadonlyMap<number, BatchCounts>, now: Date): Promise<void> {
  const batch = rollout.batches[step.batch - 1]!;
  if (step.held_by_failures !== undefined) {
    const reason = `not scheduled: ${step.held_by_failures} failed or unhealthy devices hold the whole max_unavailable budget of ${rollout.policy.max_unavailable}, and auto-rollback is off`;
    logger.info('paced batch held by failures for good: timing it out', { rollout_id: rollout.id, batch: batch.number, held_by_failures: step.held_by_failures });
    return timeOutBatch(rollout, batch, now, reason);
  }
  const settledBefore = new Date(now.getTime() - countSettleMs).toISOString();
  for (let shard = 0; shard < rollout.shard_count; shard++) await reconcileBatchShard(rollout.id, shard, batch.number, seqRangesOf(batch), { settledBefore });
  const at = now.toISOString();
  const next: Rollout = {
    ...rollout,
    batches: rollout.batches.map((b) => (b.number === batch.number ? { ...b, schedule_requested_at: at } : b)),
    version: rollout.version + 1,
    updated_at: at,
  };
  if (!(await saveRollout(next))) return;
  logger.debug('asking the paced scheduler to go on', { rollout_id: rollout.id, batch: batch.number });
  if (rollout.policy.max_unavailable != null && rollout.policy.auto_rollback_enabled && (counts.get(batch.number)?.failed ?? 0) > 0) {
    await sendRevertCommands(revertCommands(rollout, { batch: batch.number, from: [...revertedAutomatically], to: 'rolled_back', reason: 'automatic rollback: the device failed its update, and the max_unavailable budget waits on it' }));
  }
  await fanOutTargets(next, batch.number, { rescan: true });
}
