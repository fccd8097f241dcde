/**
 * The tick's work: find rollouts that may have something due (a batch delay over, a deadline
 * passed, a planning or fan-out message lost) and ask batch-advance to look at each. Progress is
 * event-driven; this is the safety net, so it only enqueues and never writes rollout state itself.
 */
import { sendOrchestration } from '../queues/messages';
import { rolloutsWithStatus } from '../store/rollouts';

export async function findDueWork(tickAt: string): Promise<{ evaluated: number; replanned: number }> {
  let evaluated = 0;
  let replanned = 0;
  for await (const rollout of rolloutsWithStatus('pending')) {
    if (rollout.planning.done) continue;
    await sendOrchestration({ type: 'plan', rollout_id: rollout.id, seq: rollout.planning.assigned });
    replanned++;
  }
  for await (const rollout of rolloutsWithStatus('in_progress')) {
    await sendOrchestration({ type: 'evaluate', rollout_id: rollout.id, reason: 'tick' }, `tick-${tickAt}`);
    evaluated++;
  }
  return { evaluated, replanned };
}
