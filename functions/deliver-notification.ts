/** One attempt per record to deliver an event to a subscription; a failed one comes back after its backoff. */
import { requireConfig } from '../lib/config';
import { deliverNotification } from '../lib/notifications/deliver';
import { deliveryMessage } from '../lib/notifications/messages';
import { concurrentSqsHandler } from '../lib/queues/consume';

// `deliveries`: its own queue's URL, to set a failed attempt's backoff (ChangeMessageVisibility).
requireConfig({ table: true, queues: ['deliveries'] });

export const handler = concurrentSqsHandler(deliveryMessage, (message, record) => deliverNotification(message, record));
