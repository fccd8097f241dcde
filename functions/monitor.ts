/** Tick queue: finds rollouts with due work and asks batch-advance to evaluate them. */
import { logger } from '../lib/logger';
import { sqsHandler } from '../lib/queues/consume';
import { tickMessage } from '../lib/queues/messages';
import { findDueWork } from '../lib/rollouts/monitor';

export const handler = sqsHandler(tickMessage, async (tick) => {
  const found = await findDueWork(tick.sent_at);
  logger.debug('tick', { ...found, sentAt: tick.sent_at });
});
