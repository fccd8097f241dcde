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
import { devicesIn, seqRangesOf, stopUnfinishedBatches } from '../domain/batch-plan';
import { batchDeadline, pacingEventDetails } from '../domain/pacing';
import { revertedAutomatically, revertedOnCancel } from '../domain/rollout-control';
import { addCounts, canTransitionRollout, countSettleMs, emptyCounts, fanOutGraceFor, impossibleCounts, minutesLater, nextStep, restsOnCounts, type NextStep, type Resend } from '../domain/rollout-progress';
import { deviceRolloutStatuses, type Batch, type BatchCounts, type Rollout } from '../domain/types';
import { logger } from '../logger';
import { observeLatency } from '../metrics';
import { orchestrationMaxReceiveCount } from '../queues/names';
import { sendHealthCommands, sendRevertCommands, sendWakeUp } from '../queues/messages';
import type { NewEvent } from '../store/events';
import { batchLastMoveAt, getAllBatchCounts, reconcileBatchShard } from '../store/rollout-devices';
import { getRollout, saveRollout } from '../store/rollouts';
import { fanOutTargets, timeOutBatch } from './device-transitions';
import { cancelRollout, startPlanned, supersedeOlderRollouts } from './control';
import { startGate } from '../domain/rollout-control';
import { requiredApprovals } from '../domain/approvals';
import { Conflict } from '../errors';
import { retryFailures } from './retries';
import { continueScheduling } from './pacing';
import { continueSweep, endingSweep, revertCommands, sweepCommands } from './rollbacks';

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
    // An ended rollout's only work left is the sweep of its devices, when a crash cut it short.
    if (rollout?.sweep) return continueSweep(rollout, now);
    if (rollout?.status === 'pending' && rollout.planning.done) {
      if (await startWhenDue(rollout, now)) continue;
      return;
    }
    if (!rollout || rollout.status !== 'in_progress') return;
    let counts = await getAllBatchCounts(rollout.id, rollout.shard_count);
    let decision = nextStep(rollout, counts, now, fanOutGraceFor(config().tickSeconds));
    const current = rollout.batches[rollout.current_batch - 1];
    if (current?.status === 'in_progress' && (restsOnCounts(decision) || impossibleCounts(current, counts.get(current.number) ?? emptyCounts()))) {
      counts = await countsFromRows(rollout, counts, decision.type === 'pause_for_failures' ? rollout.batches.filter((b) => b.started_at) : [current], now);
      decision = nextStep(rollout, counts, now, fanOutGraceFor(config().tickSeconds));
    }
    logger.debug('evaluate', { rollout_id: rolloutId, decision });
    if (decision.type === 'none') return;
    if (decision.type === 'wait') {
      if (decision.until && Date.parse(decision.until) > now.getTime()) {
        const window = decision.window;
        if (rollout.wake_requested_for !== decision.until || rollout.next_window_at !== window?.opens_at) {
          // A due time set elsewhere (resume renews the deadline) or a wake-up whose write was lost.
          const next: Rollout = { ...rollout, wake_requested_for: decision.until, version: rollout.version + 1, updated_at: now.toISOString() };
          if (window) next.next_window_at = window.opens_at;
          else delete next.next_window_at;
          const waiting: NewEvent[] =
            window && rollout.next_window_at !== window.opens_at
              ? [{ type: 'image.batch_waiting', rollout_id: rollout.id, timestamp: now.toISOString(), order: next.version, subject: `batch-${window.batch}`, details: { batch: window.batch, next_window_at: window.opens_at } }]
              : [];
          if (await saveRollout(next, waiting)) {
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

/**
 * A planned rollout waiting to start: started when its gate opens (true: evaluate it on), else a
 * wake-up is made sure of for the time it should be looked at again.
 */
async function startWhenDue(rollout: Rollout, now: Date): Promise<boolean> {
  const gate = startGate(rollout, now);
  if (!gate.ready && gate.expired) {
    try {
      await cancelRollout(rollout.id, gate.reason, now);
    } catch (error) {
      if (!(error instanceof Conflict)) throw error;
    }
    return false;
  }
  if (gate.ready) {
    try {
      return (await startPlanned(rollout.id, now)).started;
    } catch (error) {
      // Someone else started, cancelled or changed it first: read it again.
      if (error instanceof Conflict) return true;
      throw error;
    }
  }
  if (gate.until && rollout.wake_requested_for !== gate.until) {
    const next: Rollout = { ...rollout, wake_requested_for: gate.until, version: rollout.version + 1, updated_at: now.toISOString() };
    if (await saveRollout(next)) await sendWakeUp(rollout.id, gate.until, now);
  }
  return false;
}

/**
 * The given batches' counts as their rows have them (stored as the counters where the rows have
 * settled), in place of the counters: the rows are the truth the counters summarise.
 */
async function countsFromRows(rollout: Rollout, counters: Map<number, BatchCounts>, batches: Batch[], now: Date): Promise<Map<number, BatchCounts>> {
  const settledBefore = new Date(now.getTime() - countSettleMs).toISOString();
  const counts = new Map(counters);
  for (const batch of batches) {
    let sum = emptyCounts();
    for (const shard of shardsOf(rollout)) {
      sum = addCounts(sum, (await reconcileBatchShard(rollout.id, shard, batch.number, seqRangesOf(batch), { settledBefore })).counts);
    }
    const before = counters.get(batch.number) ?? emptyCounts();
    if (deviceRolloutStatuses.some((status) => before[status] !== sum[status]) || before.failures !== sum.failures) {
      logger.info('batch counters differ from the rows (a count on its way, or one lost or doubled); the rows decide', { rollout_id: rollout.id, batch: batch.number, counted: before, rows: sum });
    }
    counts.set(batch.number, sum);
  }
  return counts;
}

type Action = Exclude<NextStep, { type: 'none' } | { type: 'wait' }>;

/** Takes one step; each writes the rollout at the version it read, with the events of the step. */
async function take(rollout: Rollout, decision: Action, counts: Map<number, BatchCounts>, now: Date): Promise<void> {
  switch (decision.type) {
    case 'start_batch':
      return startBatch(rollout, decision.batch, now);
    case 'time_out_batch':
      return timeOutBatch(rollout, rollout.batches[decision.batch - 1]!, now);
    case 'continue_scheduling':
      return continueScheduling(rollout, decision, counts, now);
    case 'start_health_checks':
      return requestFanOut(rollout, decision.batch, 'health_checks_requested_at', now, () => fanOutHealthChecks(rollout, decision.batch));
    case 'retry_failures':
      return retryFailures(rollout, decision.batch, decision.round, now);
    case 'roll_back_failures':
      return requestFanOut(rollout, decision.batch, 'rollbacks_requested_at', now, () => fanOutAutoRollback(rollout, decision.batch));
    case 'complete_batch':
      return completeBatch(rollout, decision.batch, counts, now);
    case 'pause_for_failures':
      return completeBatch(rollout, decision.batch, counts, now, decision.failure_rate);
    case 'complete_rollout':
      return completeRollout(rollout, now);
  }
}

async function startBatch(rollout: Rollout, number: number, now: Date): Promise<void> {
  // A newer push's rollout started first (or planning's check was lost to a crash).
  if (number === 1 && (await supersedeOlderRollouts(rollout, now))) return;
  const at = now.toISOString();
  const deadline = batchDeadline(now, rollout.policy, devicesIn(rollout.batches[number - 1]!));
  const batch: Batch = { ...rollout.batches[number - 1]!, status: 'in_progress', started_at: at, schedule_requested_at: at, deadline_at: deadline };
  const next = withBatch(rollout, batch, now, { current_batch: number, wake_requested_for: deadline });
  delete next.next_batch_due_at;
  delete next.next_window_at;
  const started: NewEvent = {
    type: 'image.batch_started',
    rollout_id: rollout.id,
    timestamp: at,
    order: next.version,
    subject: `batch-${number}`,
    details: { batch: number, devices: devicesIn(batch), percentage: batch.percentage, deadline_at: deadline, ...pacingEventDetails(rollout.policy) },
  };
  if (!(await saveRollout(next, [started]))) return;
  await fanOutTargets(next, number);
  await sendWakeUp(rollout.id, deadline, now);
}

/** Notes when a batch's devices were handed to a queue, then hands them over (once per note). */
async function requestFanOut(
  rollout: Rollout,
  number: number,
  field: 'health_checks_requested_at' | 'rollbacks_requested_at',
  now: Date,
  fanOut: () => Promise<void>,
): Promise<void> {
  const batch = { ...rollout.batches[number - 1]!, [field]: now.toISOString() };
  if (await saveRollout(withBatch(rollout, batch, now))) await fanOut();
}

/**
 * Completes a batch; with `failureRate` (above the policy's maximum) the rollout pauses too. A
 * rollout that pauses itself has no next batch due: once resumed, the next batch starts at once
 * (the admin who resumes has looked at the batch, which is what the delay is for).
 */
async function completeBatch(rollout: Rollout, number: number, counts: Map<number, BatchCounts>, now: Date, failureRate?: number): Promise<void> {
  const at = now.toISOString();
  const batch: Batch = { ...rollout.batches[number - 1]!, status: 'completed', completed_at: at };
  const last = number === rollout.batches.length;
  const failing = failureRate !== undefined;
  // approve_each_batch: the rollout waits for an admin's approval before the next batch.
  const approving = !failing && !last && requiredApprovals(rollout.policy, number) > 0;
  const pausing = failing || approving;
  const due = last || failing ? undefined : minutesLater(now, rollout.policy.batch_delay_minutes);
  const reason = failing
    ? `failure rate ${(failureRate * 100).toFixed(1)}% exceeds the policy's maximum of ${(rollout.policy.max_failure_rate * 100).toFixed(1)}%`
    : approving
      ? `batch ${number} completed; waiting for approval`
      : undefined;
  const wakeUp = !approving && due !== undefined && Date.parse(due) > now.getTime();
  const next = withBatch(rollout, batch, now, {
    ...(due ? { next_batch_due_at: due } : {}),
    ...(wakeUp ? { wake_requested_for: due } : {}),
    ...(reason ? { status: 'paused' as const, status_reason: reason } : {}),
    ...(approving ? { awaiting_approval: { after_batch: number } } : {}),
  });
  if (!due) delete next.next_batch_due_at;
  // Completing the batch and pausing are two facts of one write: each gets its own version, so
  // their events sort in the order they happened (ids sort by time, then version).
  if (pausing) next.version += 1;
  const events: NewEvent[] = [
    {
      type: 'image.batch_completed',
      rollout_id: rollout.id,
      timestamp: at,
      order: rollout.version + 1,
      subject: `batch-${number}`,
      details: { batch: number, counts: counts.get(number), ...(due ? { next_batch_due_at: due } : {}) },
    },
  ];
  if (pausing) {
    events.push({
      type: 'image.rollout_paused',
      rollout_id: rollout.id,
      timestamp: at,
      order: next.version,
      details: failing
        ? { reason, automatic: true, failure_rate: failureRate, max_failure_rate: rollout.policy.max_failure_rate, after_batch: number }
        : { reason, automatic: true, awaiting_approval: true, after_batch: number, approvals_required: requiredApprovals(rollout.policy, number) },
    });
  }
  if (!(await saveRollout(next, events, rollout.version))) return;
  await observeBatchAdvance(rollout, number, now);
  if (wakeUp) await sendWakeUp(rollout.id, due, now);
}

/**
 * Completes the rollout. Its sweep reverts nothing: it goes over the rows once more (repeating
 * any single-device rollback a crash cut short) and recounts the counters once the last moves have
 * settled, so that the statistics kept for good equal the rows even where a write that answered an
 * error had been counted twice by its retry.
 */
async function completeRollout(rollout: Rollout, now: Date): Promise<void> {
  const at = now.toISOString();
  const sweep = endingSweep({ from: [], to: 'skipped', reason: 'rollout completed' }, at);
  const next: Rollout = { ...rollout, status: 'completed', completed_at: at, sweep, version: rollout.version + 1, updated_at: at };
  const saved = await saveRollout(next, [
    { type: 'image.rollout_completed', rollout_id: rollout.id, timestamp: at, order: next.version, details: { total_devices: rollout.total_devices, batches: rollout.batches.length } },
  ]);
  if (saved) await sendRevertCommands(sweepCommands(next));
}

/**
 * How long the batch waited between its last device settling and its completion, observed once:
 * by the evaluation whose write completed it.
 */
async function observeBatchAdvance(rollout: Rollout, number: number, now: Date): Promise<void> {
  try {
    const settledAt = await batchLastMoveAt(rollout.id, rollout.shard_count, number);
    if (settledAt !== undefined) observeLatency('BatchAdvanceLatency', now.getTime() - Date.parse(settledAt));
  } catch (error) {
    // A lost observation, not a reason to fail the step: its wake-up is still to be sent.
    logger.warn('could not read when the batch settled; its batch-advance latency is not observed', { rollout_id: rollout.id, batch: number, error });
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


async function fanOutHealthChecks(rollout: Rollout, batch: number): Promise<void> {
  await sendHealthCommands(shardsOf(rollout).map((shard) => ({ type: 'check_health' as const, rollout_id: rollout.id, batch, shard })));
}

async function fanOutAutoRollback(rollout: Rollout, batch: number): Promise<void> {
  await sendRevertCommands(
    revertCommands(rollout, { batch, from: [...revertedAutomatically], to: 'rolled_back', reason: 'automatic rollback: the device failed its update or health check' }),
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
  const settledBefore = new Date(now.getTime() - countSettleMs).toISOString();
  for (const shard of shardsOf(rollout)) await reconcileBatchShard(rollout.id, shard, current.number, seqRangesOf(current), { settledBefore });
  const at = now.toISOString();
  const field = ({ targets: 'schedule_requested_at', health: 'health_checks_requested_at', rollback: 'rollbacks_requested_at', recount: 'recounted_at' } as const)[what];
  if (!(await saveRollout(withBatch(rollout, { ...current, [field]: at }, now)))) return;
  if (what === 'recount') return;
  logger.warn('re-sending a fan-out that has not finished', { rollout_id: rollout.id, batch: current.number, what });
  if (what === 'targets') await fanOutTargets(rollout, current.number);
  else if (what === 'health') await fanOutHealthChecks(rollout, current.number);
  else await fanOutAutoRollback(rollout, current.number);
}

/**
 * A rollout command failed. On its last delivery (the dead-letter queue is next) the rollout is
 * marked failed, so it does not sit there silently while the alarm on the queue fires.
 */
export async function commandFailed(rolloutId: string, error: unknown, receiveCount: number, now: Date): Promise<void> {
  if (receiveCount >= orchestrationMaxReceiveCount) await failRollout(rolloutId, error, now);
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
  const sweep = endingSweep({ from: [...revertedOnCancel], to: 'skipped', reason: 'rollout failed' }, at);
  const next: Rollout = { ...rollout, status: 'failed', status_reason: reason, batches: stopUnfinishedBatches(rollout.batches, at), completed_at: at, sweep, version: rollout.version + 1, updated_at: at };
  if (!(await saveRollout(next, [{ type: 'image.rollout_failed', rollout_id: rollout.id, timestamp: at, order: next.version, details: { reason } }]))) return;
  await sendRevertCommands(sweepCommands(next));
}
