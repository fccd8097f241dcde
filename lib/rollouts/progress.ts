/**
 * Moves an in-progress rollout forward: starts batches, times out silent devices, hands updated
 * devices to the health checks and failed ones to the rollbacks, pauses on too many failures,
 * completes batches and the rollout. Runs in batch-advance, one rollout at a time (FIFO group);
 * every write is conditioned on the version it read, so a late or repeated evaluation is harmless.
 *
 * Due times (a batch's update deadline, the end of a batch delay) are kept to the second by a
 * wake-up sent when the due time is set (lib/queues/messages.ts `sendWakeUp`): one per due time,
 * recorded in `wake_requested_for` with the write that sets it, so the many evaluations of a large
 * batch (one per device report that settles it) send nothing more. A crash between the write and
 * the send loses the wake-up; the tick then finds the due work, a tick later.
 */
import { config } from '../config';
import { canTransitionRollout, fanOutGraceFor, minutesLater, nextStep, type NextStep, type Resend } from '../domain/rollout-progress';
import type { Batch, Rollout, StatusCounts } from '../domain/types';
import { logger } from '../logger';
import { sendHealthCommands, sendRevertCommands, sendScheduleCommands, sendWakeUp } from '../queues/messages';
import { appendEvent } from '../store/events';
import { getAllBatchCounts, reconcileBatchShard } from '../store/rollout-devices';
import { getRollout, saveRollout } from '../store/rollouts';
import { timeOutBatch } from './device-transitions';
import { recordStarted } from './rollout-events';
import { cancelFrom, revertCommands } from './rollbacks';

const maxStepsPerEvaluation = 20;

/**
 * `wokenFor`: the due time of the wake-up that asked for this evaluation. SQS delays and schedules
 * are whole seconds and hosts' clocks differ a little, so a wake-up may come just before its due
 * time; then another is sent for the remainder, rather than leaving it to the tick.
 */
export async function evaluateRollout(rolloutId: string, now: Date, wokenFor?: string): Promise<void> {
  let early = wokenFor;
  for (let step = 0; step < maxStepsPerEvaluation; step++) {
    const rollout = await getRollout(rolloutId);
    if (!rollout || rollout.status !== 'in_progress') return;
    const counts = await getAllBatchCounts(rollout.id, rollout.shard_count);
    const decision = nextStep(rollout, counts, now, fanOutGraceFor(config().tickSeconds));
    logger.debug('evaluate', { rolloutId, decision });
    if (decision.type === 'none') return;
    if (decision.type === 'wait') {
      if (decision.until && Date.parse(decision.until) > now.getTime()) {
        if (rollout.wake_requested_for !== decision.until) {
          // A due time set elsewhere (resume renews the deadline) or a wake-up whose write was lost.
          const next: Rollout = { ...rollout, wake_requested_for: decision.until, version: rollout.version + 1, updated_at: now.toISOString() };
          if (await saveRollout(next)) {
            await sendWakeUp(rollout.id, decision.until, now);
          }
          continue; // read again: saved, or someone else changed the rollout first
        }
        if (early !== undefined && Date.parse(early) === Date.parse(decision.until)) {
          await sendWakeUp(rollout.id, decision.until, now);
          early = undefined;
        }
      }
      if (!decision.resend) return;
      await resend(rollout, decision.resend, now);
      continue; // the recount may have settled the batch
    }
    await take(rollout, decision, counts, now);
    if (decision.type === 'complete_rollout' || decision.type === 'pause_for_failures') return;
  }
}

type Action = Exclude<NextStep, { type: 'none' } | { type: 'wait' }>;

async function take(rollout: Rollout, decision: Action, counts: Map<number, StatusCounts>, now: Date): Promise<void> {
  const at = now.toISOString();
  switch (decision.type) {
    case 'start_batch': {
      if (decision.batch === 1) await recordStarted(rollout);
      const deadline = minutesLater(now, rollout.policy.update_timeout_minutes);
      const batch: Batch = {
        ...rollout.batches[decision.batch - 1]!,
        status: 'in_progress',
        started_at: at,
        schedule_requested_at: at,
        deadline_at: deadline,
      };
      const next = withBatch(rollout, batch, now, { current_batch: decision.batch, wake_requested_for: deadline });
      delete next.next_batch_due_at;
      if (!(await saveRollout(next))) return;
      await appendEvent({
        type: 'image.batch_started',
        rollout_id: rollout.id,
        timestamp: at,
        order: next.version,
        subject: `batch-${decision.batch}`,
        details: { batch: decision.batch, devices: batch.size, percentage: batch.percentage, deadline_at: batch.deadline_at },
      });
      await fanOutSchedule(next, decision.batch);
      await sendWakeUp(rollout.id, deadline, now);
      return;
    }
    case 'time_out_batch':
      await timeOutBatch(rollout, rollout.batches[decision.batch - 1]!, now);
      return;
    case 'start_health_checks': {
      const batch = { ...rollout.batches[decision.batch - 1]!, health_checks_requested_at: at };
      if (await saveRollout(withBatch(rollout, batch, now))) await fanOutHealthChecks(rollout, decision.batch);
      return;
    }
    case 'roll_back_failures': {
      const batch = { ...rollout.batches[decision.batch - 1]!, rollbacks_requested_at: at };
      if (await saveRollout(withBatch(rollout, batch, now))) await fanOutAutoRollback(rollout, decision.batch);
      return;
    }
    case 'complete_batch':
    case 'pause_for_failures': {
      const batch: Batch = { ...rollout.batches[decision.batch - 1]!, status: 'completed', completed_at: at };
      const last = decision.batch === rollout.batches.length;
      const pausing = decision.type === 'pause_for_failures';
      // A rollout that pauses itself has no next batch due: once resumed, the next batch starts at
      // once (the admin who resumes has looked at the batch, which is what the delay is for).
      const due = last || pausing ? undefined : minutesLater(now, rollout.policy.batch_delay_minutes);
      const reason = pausing
        ? `failure rate ${(decision.failure_rate * 100).toFixed(1)}% exceeds the policy's maximum of ${(rollout.policy.max_failure_rate * 100).toFixed(1)}%`
        : undefined;
      const changes: Partial<Rollout> = {
        ...(due ? { next_batch_due_at: due } : {}),
        ...(due && Date.parse(due) > now.getTime() ? { wake_requested_for: due } : {}),
        ...(reason ? { status: 'paused' as const, status_reason: reason } : {}),
      };
      const next = withBatch(rollout, batch, now, changes);
      if (!due) delete next.next_batch_due_at;
      // Completing the batch and pausing are two facts of one write: each gets its own version, so
      // their events sort in the order they happened (ids sort by time, then version).
      if (pausing) next.version += 1;
      if (!(await saveRollout(next, rollout.version))) return;
      await appendEvent({
        type: 'image.batch_completed',
        rollout_id: rollout.id,
        timestamp: at,
        order: rollout.version + 1,
        subject: `batch-${decision.batch}`,
        details: { batch: decision.batch, counts: counts.get(decision.batch), ...(due ? { next_batch_due_at: due } : {}) },
      });
      if (pausing) {
        await appendEvent({
          type: 'image.rollout_paused',
          rollout_id: rollout.id,
          timestamp: at,
          order: next.version,
          details: { reason, automatic: true, failure_rate: decision.failure_rate, max_failure_rate: rollout.policy.max_failure_rate, after_batch: decision.batch },
        });
      }
      if (due && Date.parse(due) > now.getTime()) await sendWakeUp(rollout.id, due, now);
      return;
    }
    case 'complete_rollout': {
      const next: Rollout = { ...rollout, status: 'completed', completed_at: at, version: rollout.version + 1, updated_at: at };
      if (!(await saveRollout(next))) return;
      await appendEvent({
        type: 'image.rollout_completed',
        rollout_id: rollout.id,
        timestamp: at,
        order: next.version,
        details: { total_devices: rollout.total_devices, batches: rollout.batches.length },
      });
    }
  }
}

function withBatch(rollout: Rollout, batch: Batch, now: Date, changes: Partial<Rollout> = {}): Rollout {
  return {
    ...rollout,
    ...changes,
    batches: rollout.batches.map((b) => (b.number === batch.number ? batch : b)),
    version: rollout.version + 1,
    updated_at: now.toISOString(),
  };
}

const shardsOf = (rollout: Rollout) => Array.from({ length: rollout.shard_count }, (_, shard) => shard);

export async function fanOutSchedule(rollout: Rollout, batch: number): Promise<void> {
  await sendScheduleCommands(shardsOf(rollout).map((shard) => ({ type: 'schedule_shard' as const, rollout_id: rollout.id, batch, shard })));
}

async function fanOutHealthChecks(rollout: Rollout, batch: number): Promise<void> {
  await sendHealthCommands(shardsOf(rollout).map((shard) => ({ type: 'check_health' as const, rollout_id: rollout.id, batch, shard })));
}

async function fanOutAutoRollback(rollout: Rollout, batch: number): Promise<void> {
  await sendRevertCommands(
    revertCommands(rollout, { batch, from: ['failed', 'unhealthy'], to: 'rolled_back', reason: 'automatic rollback: the device failed its update or health check' }),
  );
}

/**
 * A fan-out that has not finished well after it was requested either lost a message (a crash, a
 * restart of the embedded host) or finished with a count lost to a crash between a device's move
 * and its count. The counters are recounted from the rows, then the fan-out is sent again, which
 * is safe: every page skips what is already done.
 */
async function resend(rollout: Rollout, what: Resend, now: Date): Promise<void> {
  const current = rollout.batches[rollout.current_batch - 1]!;
  for (const shard of shardsOf(rollout)) await reconcileBatchShard(rollout.id, shard, current.number, current.first_seq, current.size);
  const at = now.toISOString();
  const field = ({ schedule: 'schedule_requested_at', health: 'health_checks_requested_at', rollback: 'rollbacks_requested_at', recount: 'recounted_at' } as const)[what];
  if (!(await saveRollout(withBatch(rollout, { ...current, [field]: at }, now)))) return;
  if (what === 'recount') return;
  logger.warn('re-sending a fan-out that has not finished', { rolloutId: rollout.id, batch: current.number, what });
  if (what === 'schedule') await fanOutSchedule(rollout, current.number);
  else if (what === 'health') await fanOutHealthChecks(rollout, current.number);
  else await fanOutAutoRollback(rollout, current.number);
}

/**
 * The rollout's processing failed for good (its command's last delivery failed): it is marked
 * failed with the error, and devices it had not yet updated keep the image they run.
 */
export async function failRollout(rolloutId: string, error: unknown, now: Date): Promise<void> {
  const rollout = await getRollout(rolloutId);
  if (!rollout || !canTransitionRollout(rollout.status, 'failed')) return;
  const at = now.toISOString();
  const reason = `processing failed: ${error instanceof Error ? error.message : String(error)}`;
  const next: Rollout = { ...rollout, status: 'failed', status_reason: reason, completed_at: at, version: rollout.version + 1, updated_at: at };
  if (!(await saveRollout(next))) return;
  await appendEvent({ type: 'image.rollout_failed', rollout_id: rollout.id, timestamp: at, order: next.version, details: { reason } });
  await sendRevertCommands(revertCommands(next, { from: cancelFrom, to: 'skipped', reason: 'rollout failed' }));
}
