/** Tick and wake queues: asks batch-advance to evaluate the rollouts whose time has come. */
import { requireConfig } from '../lib/config';
import { logger } from '../lib/logger';
import { sqsHandler } from '../lib/queues/consume';
import { monitorMessage } from '../lib/queues/messages';
import { findDueWork, wakeRollout } from '../lib/rollouts/monitor';

requireConfig({ table: true, queues: ['orchestration'] });

export const handler = sqsHandler(monitorMessage, async (message, record) => {
  if (message.type === 'wake') {
    await wakeRollout(message, record.messageId);
    return;
  }
  const found = await findDueWork(message.sent_at);
  logger.debug('tick', { ...found, sentAt: message.sent_at });
});
