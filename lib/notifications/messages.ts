/** The notification queues' messages and how they are sent. */
import { ChangeMessageVisibilityCommand, SendMessageBatchCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { z } from 'zod';
import { rolloutEventSchema } from '../rollouts/event-schema';
import { sqs } from '../aws-clients';
import { queueUrl } from '../config';
import type { RolloutEvent } from '../domain/types';

/** Events just recorded, on their way to the bus and the subscriptions (the notify queue). */
export const recordedEventsMessage = z.object({ type: z.literal('events_recorded'), events: z.array(rolloutEventSchema).min(1) });
export type RecordedEventsMessage = z.infer<typeof recordedEventsMessage>;

/** One attempt to deliver one event to one subscription (the deliveries queue); a retry is a new message, `attempt` one more. */
export const deliveryMessage = z.object({
  type: z.literal('deliver'),
  subscription_id: z.string(),
  event: rolloutEventSchema,
  attempt: z.number().int().min(1).default(1),
});
export type DeliveryMessage = z.infer<typeof deliveryMessage>;

/** SQS takes 256 KiB a message; a page of events stays well below in parts of this size. */
const maxMessageBytes = 200 * 1024;

/** The events as few messages as their size allows: one per page of events, usually. */
export function recordedEventsMessages(events: readonly RolloutEvent[]): RecordedEventsMessage[] {
  const messages: RecordedEventsMessage[] = [];
  let current: RolloutEvent[] = [];
  let size = 0;
  for (const event of events) {
    const bytes = Buffer.byteLength(JSON.stringify(event)) + 1;
    if (current.length > 0 && size + bytes > maxMessageBytes) {
      messages.push({ type: 'events_recorded', events: current });
      current = [];
      size = 0;
    }
    current.push(event);
    size += bytes;
  }
  if (current.length > 0) messages.push({ type: 'events_recorded', events: current });
  return messages;
}

async function sendBatches(queue: 'notify' | 'deliveries', bodies: string[]): Promise<void> {
  for (let i = 0; i < bodies.length; i += 10) {
    const chunk = bodies.slice(i, i + 10);
    const result = await sqs().send(
      new SendMessageBatchCommand({ QueueUrl: queueUrl(queue), Entries: chunk.map((body, n) => ({ Id: String(n), MessageBody: body })) }),
    );
    if (result.Failed && result.Failed.length > 0) throw new Error(`could not queue ${result.Failed.length} ${queue} messages: ${result.Failed[0]!.Message}`);
  }
}

export const sendRecordedEvents = (events: readonly RolloutEvent[]) => sendBatches('notify', recordedEventsMessages(events).map((m) => JSON.stringify(m)));
export const sendDeliveries = (messages: readonly DeliveryMessage[]) => sendBatches('deliveries', messages.map((m) => JSON.stringify(m)));

/** The next attempt, `delaySeconds` from now (SQS delays go up to 15 minutes). */
export async function sendDeliveryRetry(message: DeliveryMessage, delaySeconds: number): Promise<void> {
  await sqs().send(
    new SendMessageCommand({ QueueUrl: queueUrl('deliveries'), MessageBody: JSON.stringify(message), DelaySeconds: Math.min(900, Math.max(0, Math.round(delaySeconds))) }),
  );
}

/** Makes a failed message visible again at once, so its remaining receives (and the move to the dead-letter queue) come without waiting out the visibility timeout. */
export async function returnDeliveryNow(receiptHandle: string): Promise<void> {
  await sqs().send(new ChangeMessageVisibilityCommand({ QueueUrl: queueUrl('deliveries'), ReceiptHandle: receiptHandle, VisibilityTimeout: 0 }));
}
