/**
 * Admin commands on a rollout. Each checks the transition against the rules (409 naming why when
 * it is not allowed), writes it conditioned on the version it read, and hands the follow-up work
 * to batch-advance.
 */
import { canTransitionRollout } from '../domain/rollout-progress';
import type { Rollout } from '../domain/types';
import { Conflict } from '../errors';
import { sendOrchestration } from '../queues/messages';
import { saveRollout } from '../store/rollouts';
import { recordStarted } from './plan';
import { readRollout } from './views';

export async function startRollout(id: string, now: Date): Promise<Rollout> {
  for (let attempt = 0; attempt < 3; attempt++) {
    const rollout = await readRollout(id);
    if (!canTransitionRollout(rollout.status, 'in_progress') || rollout.status !== 'pending') {
      throw new Conflict(`rollout ${id} is ${rollout.status}; only a pending rollout can be started`);
    }
    if (!rollout.planning.done) throw new Conflict(`rollout ${id} is still being planned; start it once "planned" is true`);
    const at = now.toISOString();
    const next: Rollout = { ...rollout, status: 'in_progress', started_at: at, version: rollout.version + 1, updated_at: at };
    if (await saveRollout(next)) {
      await recordStarted(next);
      await sendOrchestration({ type: 'evaluate', rollout_id: id, reason: 'started by admin' }, `start-${at}`);
      return next;
    }
  }
  throw new Conflict(`rollout ${id} is changing; try again`);
}
