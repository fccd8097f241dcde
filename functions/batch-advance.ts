/** Orchestration queue (FIFO, one group per rollout): plans rollouts and moves them forward. */
import { requireConfig } from '../lib/config';
import { receiveCountOf, sqsHandler } from '../lib/queues/consume';
import { orchestrationCommand } from '../lib/queues/messages';
import { joinRollout } from '../lib/rollouts/joins';
import { planPages } from '../lib/rollouts/plan';
import { commandFailed, evaluateRollout } from '../lib/rollouts/progress';
import { now as clockNow } from '../lib/clock';

requireConfig({ table: true, queues: ['orchestration', 'targets', 'health', 'rollback', 'wake'], schedules: true });

export const handler = sqsHandler(orchestrationCommand, async (command, record, budget) => {
  const now = clockNow();
  // A join that fails is tried again; it never fails the rollout it asks to join.
  if (command.type === 'join') return joinRollout(command, now);
  try {
    if (command.type === 'plan') {
      const planned = await planPages(command.rollout_id, command.seq, now, budget);
      if (planned?.planning.done && planned.status === 'in_progress') await evaluateRollout(command.rollout_id, now);
    } else {
      await evaluateRollout(command.rollout_id, now, command.due_at);
    }
  } catch (error) {
    await commandFailed(command.rollout_id, error, receiveCountOf(record), now);
    throw error;
  }
});
