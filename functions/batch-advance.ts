/** Orchestration queue (FIFO, one group per rollout): plans rollouts and moves them forward. */
import type { SQSEvent } from 'aws-lambda';
import { consumeRecords } from '../lib/queues/consume';
import { orchestrationCommand } from '../lib/queues/messages';
import { planNextPage } from '../lib/rollouts/plan';
import { evaluateRollout } from '../lib/rollouts/progress';

export const handler = (event: SQSEvent) =>
  consumeRecords(event, orchestrationCommand, async (command) => {
    const now = new Date();
    if (command.type === 'plan') {
      const planned = await planNextPage(command.rollout_id, command.seq, now);
      if (planned?.planning.done && planned.status === 'in_progress') await evaluateRollout(command.rollout_id, now);
    } else {
      await evaluateRollout(command.rollout_id, now);
    }
  });
