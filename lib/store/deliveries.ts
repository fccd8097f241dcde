/**
 * Webhook deliveries. A delivery is claimed with a conditional write before anything is created,
 * so copies of one notification arriving together agree on one push (its time included) and on
 * one answer; a copy that finds the claim answers what the claim says, or finishes the work of a
 * claimant that crashed (every step after the claim is idempotent).
 */
import { GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { dynamo } from '../aws-clients';
import type { ImagePushed } from '../registry';
import { keys, ttlAttribute } from './keys';
import { conditionally, tableName } from './table';

const retentionSeconds = 7 * 24 * 3600;

export interface Delivery<Outcome = unknown> {
  registry: string;
  delivery_id: string;
  /** The push as the first copy understood it; later copies use this one. */
  push: ImagePushed;
  received_at: string;
  /** What the push led to, once handled. */
  outcome?: Outcome;
}

/** Claims the delivery; when another copy claimed it first, returns that claim instead. */
export async function claimDelivery<Outcome>(delivery: Delivery<Outcome>): Promise<{ claimed: boolean; delivery: Delivery<Outcome> }> {
  const key = keys.delivery(delivery.registry, delivery.delivery_id);
  const claim = new PutCommand({
    TableName: tableName(),
    Item: { ...key, ...delivery, [ttlAttribute]: Math.floor(Date.parse(delivery.received_at) / 1000) + retentionSeconds },
    ConditionExpression: 'attribute_not_exists(pk)',
  });
  if (await conditionally(dynamo().send(claim))) return { claimed: true, delivery };
  const { Item } = await dynamo().send(new GetCommand({ TableName: tableName(), Key: key, ConsistentRead: true }));
  if (!Item) throw new Error(`delivery ${delivery.delivery_id} of ${delivery.registry} was claimed but cannot be read`);
  const { registry, delivery_id, push, received_at, outcome } = Item as unknown as Delivery<Outcome>;
  return { claimed: false, delivery: { registry, delivery_id, push, received_at, ...(outcome !== undefined ? { outcome } : {}) } };
}

/** Records what the delivery led to, so later copies answer the same without redoing anything. */
export async function recordDeliveryOutcome<Outcome>(registry: string, deliveryId: string, outcome: Outcome): Promise<void> {
  await dynamo().send(
    new UpdateCommand({
      TableName: tableName(),
      Key: keys.delivery(registry, deliveryId),
      UpdateExpression: 'SET outcome = :outcome',
      ExpressionAttributeValues: { ':outcome': outcome },
    }),
  );
}
