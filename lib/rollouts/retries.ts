/**
 * `retry_failed`: once a batch's devices are through their update (and health checks), those that
 * failed or were unhealthy are scheduled again, a round at a time, up to the policy's number of
 * rounds; only what still fails after the last round counts as failed (and is rolled back, and
 * weighs in the failure rate). Each round gives the batch a new update deadline.
 *
 * A round is one step of batch-advance: each eligible row's device gets the target again first
 * (its version goes up, so its agent applies it anew; its pointer is set again), then the row goes
 * back to `scheduled` with one more attempt, then its event; the round is recorded on the batch
 * last. A crash in between repeats the round: rows already moved are no longer failed from the
 * round's attempt, so none is given a retry twice, and their events are recorded again from the
 * rows (the move's time and the error it kept) under the ids they had.
 */
import { rolloutRank } from '../domain/push-order';
import type { Batch, DeviceRolloutStatus, Rollout, RolloutDevice } from '../domain/types';
import { seqRangesOf } from '../domain/batch-plan';
import { pacingOf } from '../domain/pacing';
import { minutesLater } from '../domain/rollout-progress';
import { logger } from '../logger';
import { sendWakeUp } from '../queues/messages';
import { retryRolloutTarget } from '../store/devices';
import { retryRolloutDevice, rowsInRanges } from '../store/rollout-devices';
import { appendEvent, appendMissingEvents, type NewEvent } from '../store/events';
import { saveRollout } from '../store/rollouts';
import { countMoves, deviceFact, rolloutPointer, type Move } from './device-transitions';

/** Rows the round `round` (1, 2, …) schedules again: failed or unhealthy on attempt `round`. */
export function retriable(row: Pick<RolloutDevice, 'status' | 'attempts'>, round: number): boolean {
  return (row.status === 'failed' || row.status === 'unhealthy') && (row.attempts ?? 1) === round;
}

/** Rows an earlier run of the round `round` moved (a run cut short repeats it): they are on the next attempt. */
function movedBy(row: Pick<RolloutDevice, 'attempts'>, round: number): boolean {
  return (row.attempts ?? 1) === round + 1;
}

/**
 * The fact of a row's retry. Its id names the attempt as well as the time, and is ordered by it:
 * one evaluation takes its steps at one time, so two rounds may retry one device within the same
 * millisecond.
 */
function retriedFact(row: RolloutDevice, batch: number, attempt: number, allowed: number, at: string, reason: string): NewEvent {
  const fact = deviceFact('image.device_retried', row, at, { batch, attempt, attempts_allowed: allowed, reason });
  return { ...fact, subject: `${row.app}#attempt-${attempt}`, order: attempt };
}

export async function retryFailures(rollout: Rollout, number: number, round: number, now: Date): Promise<void> {
  const batch = rollout.batches[number - 1]!;
  const at = now.toISOString();
  const rank = rolloutRank(rollout);
  const allowed = (rollout.policy.retry_failed ?? 0) + 1;
  const paced = pacingOf(rollout.policy) !== undefined;
  let retried = 0;
  for (let shard = 0; shard < rollout.shard_count; shard++) {
    const moves: (Move | undefined)[] = [];
    const movedBefore: NewEvent[] = [];
    for await (const row of rowsInRanges(rollout.id, shard, seqRangesOf(batch))) {
      if (movedBy(row, round) && row.scheduled_at && row.last_error) {
        movedBefore.push(retriedFact(row, number, round + 1, allowed, row.scheduled_at, row.last_error));
        continue;
      }
      if (!retriable(row, round)) continue;
      // A paced batch's retried device frees its budget when it settles, as a scheduled one does.
      const pointer = rolloutPointer(rollout, row, number, row.previous_digest, paced);
      // A device a newer push took over, or that left, keeps its failure: nothing to retry here.
      if (!(await retryRolloutTarget(row.device_uuid, row.app, rank, pointer, at))) continue;
      const reason = row.error ?? row.status;
      const from: DeviceRolloutStatus | undefined = await retryRolloutDevice(row, round + 1, at, reason);
      if (!from) continue;
      moves.push({ moved: true, from, to: 'scheduled', at });
      await appendEvent(retriedFact(row, number, round + 1, allowed, at, reason));
      retried++;
    }
    await appendMissingEvents(movedBefore);
    await countMoves({ rollout_id: rollout.id, shard }, number, moves);
  }
  const deadline = minutesLater(now, rollout.policy.update_timeout_minutes);
  const next: Batch = { ...batch, retry_rounds: round, deadline_at: deadline, schedule_requested_at: at };
  // The round's devices are checked (and, failing again, rolled back) anew.
  delete next.health_checks_requested_at;
  delete next.rollbacks_requested_at;
  const saved = await saveRollout({
    ...rollout,
    batches: rollout.batches.map((b) => (b.number === number ? next : b)),
    wake_requested_for: deadline,
    version: rollout.version + 1,
    updated_at: at,
  });
  logger.info('retried failed devices', { rollout_id: rollout.id, batch: number, round, retried });
  if (saved) await sendWakeUp(rollout.id, deadline, now);
}
