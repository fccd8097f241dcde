/** Webhook deliveries seen, so a redelivered notification answers the same and creates nothing. */
import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { dynamo } from '../aws-clients';
import { keys, ttlAttribute } from './keys';
import { tableName } from './table';

const retentionSeconds = 7 * 24 * 3600;

export interface Delivery {
  registry: string;
  delivery_id: string;
  rollout_ids: string[];
  received_at: string;
}

export async function getDelivery(registry: string, deliveryId: string): Promise<Delivery | undefined> {
  const { Item } = await dynamo().send(
    new GetCommand({ TableName: tableName(), Key: keys.delivery(registry, deliveryId), ConsistentRead: true }),
  );
  return Item ? (Item as unknown as Delivery) : undefined;
}

/** Written last, after the delivery's rollouts exist: a crash before it only means the retry redoes idempotent work. */
export async function recordDelivery(delivery: Delivery): Promise<void> {
  await dynamo().send(
    new PutCommand({
      TableName: tableName(),
      Item: {
        ...keys.delivery(delivery.registry, delivery.delivery_id),
        ...delivery,
        [ttlAttribute]: Math.floor(Date.parse(delivery.received_at) / 1000) + retentionSeconds,
      },
    }),
  );
}
