/** Tick queue: finds rollouts with due work and asks batch-advance to evaluate them. */
import type { SQSEvent } from 'aws-lambda';
import { logger } from '../lib/logger';
import { consumeRecords } from '../lib/queues/consume';
import { tickMessage } from '../lib/queues/messages';
import { findDueWork } from '../lib/rollouts/monitor';

export const handler = (event: SQSEvent) =>
  consumeRecords(event, tickMessage, async (tick) => {
    const found = await findDueWork(tick.sent_at);
    logger.debug('tick', { ...found, sentAt: tick.sent_at });
  });
