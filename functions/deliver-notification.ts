/** One attempt per record to deliver an event to a subscription; a failed one queues the next, after its backoff. */
import { requireConfig } from '../lib/config';
import { deliverNotification } from '../lib/notifications/deliver';
import { deliveryMessage } from '../lib/notifications/messages';
import { concurrentSqsHandler } from '../lib/queues/consume';

// `deliveries`: a failed attempt queues the next one there.
requireConfig({ table: true, queues: ['deliveries'] });

export const handler = concurrentSqsHandler(deliveryMessage, (message, record) => deliverNotification(message, record));
