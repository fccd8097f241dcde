/**
 * Fired once a minute by an EventBridge rule; sends two ticks, now and half a period later, because
 * EventBridge rules cannot fire more often than once a minute.
 */
import type { ScheduledEvent } from 'aws-lambda';
import { config, requireConfig } from '../lib/config';
import { lambdaHandler } from '../lib/lambda';
import { sendTick } from '../lib/queues/messages';
import { now } from '../lib/clock';

requireConfig({ queues: ['tick'] });

export const handler = lambdaHandler<ScheduledEvent, void>().handler(async (event) => {
  const firedAt = event.time ?? now().toISOString();
  const period = config().tickSeconds;
  await sendTick(0, firedAt);
  await sendTick(period, new Date(Date.parse(firedAt) + period * 1000).toISOString());
});
