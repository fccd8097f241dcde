/** Recorded events to the EventBridge bus (AWS) and to the deliveries of matching subscriptions. */
import { requireConfig } from '../lib/config';
import { fanOutRecordedEvents } from '../lib/notifications/fan-out';
import { recordedEventsMessage } from '../lib/notifications/messages';
import { sqsHandler } from '../lib/queues/consume';

requireConfig({ table: true, queues: ['deliveries'] });

export const handler = sqsHandler(recordedEventsMessage, (message) => fanOutRecordedEvents(message));
