/**
 * The notify queue's consumer: a page of recorded events goes to the EventBridge bus (where the
 * host has one) and, one delivery message per event and matching subscription, to the
 * deliveries queue. Nothing here waits on a receiver; a copy of the page handled twice queues
 * its deliveries twice, and both carry the same delivery id.
 */
import { config } from '../config';
import { allSubscriptions } from '../store/subscriptions';
import { eventBridgeClient, publishToBus, type PutEventsClient } from './event-bus';
import { sendDeliveries, type DeliveryMessage, type RecordedEventsMessage } from './messages';
import { matches } from './payload';

export async function fanOutRecordedEvents(message: RecordedEventsMessage, bus: PutEventsClient = eventBridgeClient): Promise<void> {
  const { eventBusName } = config();
  if (eventBusName) await publishToBus(eventBusName, message.events, bus);
  // Read fresh, not from appendEvents' cache: a subscription deleted meanwhile gets nothing more.
  const subscriptions = await allSubscriptions();
  const deliveries: DeliveryMessage[] = [];
  for (const event of message.events) {
    for (const subscription of subscriptions) {
      if (matches(subscription.event_types, event)) deliveries.push({ type: 'deliver', subscription_id: subscription.id, event, attempt: 1 });
    }
  }
  await sendDeliveries(deliveries);
}
