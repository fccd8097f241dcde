/**
 * Amazon ECR pushes, from the EventBridge rule on the account's default bus (infra/manifest.ts
 * `onEvents`): the same path as a webhook, from the push on. An event that cannot be read is
 * logged and dropped rather than thrown: EventBridge would retry it twice, to the same end.
 */
import type { EventBridgeEvent } from 'aws-lambda';
import { now } from '../lib/clock';
import { requireConfig } from '../lib/config';
import { ClientError } from '../lib/errors';
import { lambdaHandler } from '../lib/lambda';
import { logger } from '../lib/logger';
import { receiveEcrEvent, type PushesHandled } from '../lib/registries/intake';

requireConfig({ table: true, queues: ['orchestration'] });

export const handler = lambdaHandler<EventBridgeEvent<'ECR Image Action', unknown>, PushesHandled | undefined>().handler(async (event) => {
  try {
    return await receiveEcrEvent(event, now());
  } catch (error) {
    if (!(error instanceof ClientError)) throw error;
    logger.warn(`ECR event ${event.id} dropped: ${error.message}`, { event_id: event.id });
    return undefined;
  }
});
