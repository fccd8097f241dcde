/**
 * The monitor's work, which only enqueues and never writes rollout state itself:
 * - on a wake-up (a rollout's due time has come), ask batch-advance to evaluate that rollout;
 * - on a tick, the safety net: find rollouts that may have something due (a wake-up lost, a
 *   planning or fan-out message lost) and ask batch-advance to look at each; and ended rollouts
 *   whose device sweep is unfinished (a crash or a failed call right after the ending).
 */
import { sendOrchestration, type WakeMessage } from '../queues/messages';
import { rolloutsBeingSwept, rolloutsWithStatus } from '../store/rollouts';

export async function findDueWork(tickAt: string): Promise<{ evaluated: number; replanned: number }> {
  let evaluated = 0;
  let replanned = 0;
  for await (const rollout of rolloutsWithStatus('pending')) {
    if (rollout.planning.done) {
      // Waiting for a time (a scheduled start, an approval deadline) whose wake-up may be lost.
      if (rollout.wake_requested_for && Date.parse(rollout.wake_requested_for) <= Date.parse(tickAt)) {
        await sendOrchestration({ type: 'evaluate', rollout_id: rollout.id, reason: 'tick: start due' }, `tick-${tickAt}`);
        evaluated++;
      }
      continue;
    }
    await sendOrchestration({ type: 'plan', rollout_id: rollout.id, seq: rollout.planning.assigned });
    replanned++;
  }
  for await (const rollout of rolloutsWithStatus('in_progress')) {
    await sendOrchestration({ type: 'evaluate', rollout_id: rollout.id, reason: 'tick' }, `tick-${tickAt}`);
    evaluated++;
  }
  for await (const rollout of rolloutsBeingSwept()) {
    await sendOrchestration({ type: 'evaluate', rollout_id: rollout.id, reason: 'tick: unfinished sweep' }, `tick-${tickAt}`);
    evaluated++;
  }
  return { evaluated, replanned };
}

/**
 * Forwards a wake-up to the rollout's FIFO group as an evaluation. The de-duplication id is the
 * wake-up message's own, so a redelivered wake-up evaluates once, while a wake-up sent again for
 * the same due time (the first came early) is not mistaken for it.
 */
export async function wakeRollout(wake: WakeMessage, messageId: string): Promise<void> {
  await sendOrchestration({ type: 'evaluate', rollout_id: wake.rollout_id, reason: 'wake-up', due_at: wake.due_at }, `wake-${messageId}`);
}
