/**
 * Moves an in-progress rollout forward: starts batches, completes them, times out silent devices
 * and completes the rollout. Runs in batch-advance, one rollout at a time (FIFO group); every
 * write is conditioned on the version it read, so a late or repeated evaluation is harmless.
 */
import { minutesLater, nextStep } from '../domain/rollout-progress';
import type { Batch, Rollout, StatusCounts } from '../domain/types';
import { logger } from '../logger';
import { sendScheduleCommands } from '../queues/messages';
import { appendEvent } from '../store/events';
import { getBatchCounts } from '../store/rollout-devices';
import { getRollout, saveRollout } from '../store/rollouts';
import { recordStarted } from './plan';
import { timeOutBatch } from './device-transitions';

/** A batch whose devices are not all reached this long after it started has lost a fan-out message. */
const fanOutGraceMs = 120_000;
const maxStepsPerEvaluation = 20;

export async function evaluateRollout(rolloutId: string, now: Date): Promise<void> {
  for (let step = 0; step < maxStepsPerEvaluation; step++) {
    const rollout = await getRollout(rolloutId);
    if (!rollout) return;
    const current = rollout.batches[rollout.current_batch - 1];
    const counts = current?.status === 'in_progress' ? await getBatchCounts(rollout.id, rollout.shard_count, current.number) : undefined;
    const decision = nextStep(rollout, counts, now);
    logger.debug('evaluate', { rolloutId, decision });

    switch (decision.type) {
      case 'start_batch':
        await startBatch(rollout, decision.batch, now);
        break;
      case 'complete_batch':
        await completeBatch(rollout, decision.batch, counts!, now);
        break;
      case 'time_out_batch':
        await timeOutBatch(rollout, rollout.batches[decision.batch - 1]!, now);
        break;
      case 'complete_rollout':
        await completeRollout(rollout, now);
        return;
      case 'wait':
        if (current && counts) await resendLostFanOut(rollout, current, counts, now);
        return;
      case 'none':
        return;
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

async function startBatch(rollout: Rollout, number: number, now: Date): Promise<void> {
  if (number === 1) await recordStarted(rollout);
  const at = now.toISOString();
  const batch: Batch = {
    ...rollout.batches[number - 1]!,
    status: 'in_progress',
    started_at: at,
    deadline_at: minutesLater(now, rollout.policy.update_timeout_minutes),
  };
  const next = withBatch(rollout, batch, now, { current_batch: number });
  delete next.next_batch_due_at;
  if (!(await saveRollout(next))) return;
  await appendEvent({
    type: 'image.batch_started',
    rollout_id: rollout.id,
    timestamp: at,
    order: next.version,
    subject: `batch-${number}`,
    details: { batch: number, devices: batch.size, percentage: batch.percentage, deadline_at: batch.deadline_at },
  });
  await fanOut(next, number);
}

async function fanOut(rollout: Rollout, batch: number): Promise<void> {
  await sendScheduleCommands(
    Array.from({ length: rollout.shard_count }, (_, shard) => ({ type: 'schedule_shard' as const, rollout_id: rollout.id, batch, shard })),
  );
}

/** The safety net for a schedule message lost after the batch started (a crash, a restart of the embedded host). */
async function resendLostFanOut(rollout: Rollout, batch: Batch, counts: StatusCounts, now: Date): Promise<void> {
  const reached = Object.values(counts).reduce((a, b) => a + b, 0);
  if (batch.status !== 'in_progress' || reached >= batch.size || !batch.started_at) return;
  if (now.getTime() - Date.parse(batch.started_at) < fanOutGraceMs) return;
  logger.warn('re-sending schedule fan-out', { rolloutId: rollout.id, batch: batch.number, reached, size: batch.size });
  await fanOut(rollout, batch.number);
}

async function completeBatch(rollout: Rollout, number: number, counts: StatusCounts, now: Date): Promise<void> {
  const at = now.toISOString();
  const batch: Batch = { ...rollout.batches[number - 1]!, status: 'completed', completed_at: at };
  const last = number === rollout.batches.length;
  const next = withBatch(rollout, batch, now, last ? {} : { next_batch_due_at: minutesLater(now, rollout.policy.batch_delay_minutes) });
  if (!(await saveRollout(next))) return;
  await appendEvent({
    type: 'image.batch_completed',
    rollout_id: rollout.id,
    timestamp: at,
    order: next.version,
    subject: `batch-${number}`,
    details: { batch: number, counts, ...(last ? {} : { next_batch_due_at: next.next_batch_due_at }) },
  });
}

async function completeRollout(rollout: Rollout, now: Date): Promise<void> {
  const at = now.toISOString();
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
