/** Orchestration queue (FIFO, one group per rollout): plans rollouts and moves them forward. */
import type { SQSEvent } from 'aws-lambda';
import { queues } from '../infra/manifest';
import { consumeRecords, isFinalDelivery } from '../lib/queues/consume';
import { orchestrationCommand } from '../lib/queues/messages';
import { planNextPage } from '../lib/rollouts/plan';
import { evaluateRollout, failRollout } from '../lib/rollouts/progress';

export const handler = (event: SQSEvent) =>
  consumeRecords(event, orchestrationCommand, async (command, record) => {
    const now = new Date();
    try {
      if (command.type === 'plan') {
        const planned = await planNextPage(command.rollout_id, command.seq, now);
        if (planned?.planning.done && planned.status === 'in_progress') await evaluateRollout(command.rollout_id, now);
      } else {
        await evaluateRollout(command.rollout_id, now, command.due_at);
      }
    } catch (error) {
      // The message goes to the dead-letter queue after this; the rollout must not sit there silently.
      if (isFinalDelivery(record, queues.orchestration.maxReceiveCount)) await failRollout(command.rollout_id, error, now);
      throw error;
    }
  });
