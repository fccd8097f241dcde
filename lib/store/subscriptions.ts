/**
 * Notification subscriptions. The signing secret is stored as it is (a delivery must sign with
 * it; a hash would not do) and never leaves lib/notifications: the views leave it out.
 */
import { DeleteCommand, GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { dynamo } from '../aws-clients';
import type { EventType } from '../domain/types';
import { indexes, keys, listedKeys } from './keys';
import { conditionally, entityOf, queryIndexPage, resultUnlessConditionFailed, tableName, type Page } from './table';

export type NotificationFormat = 'json' | 'slack';

/** How the last attempt to deliver to the subscription went. */
export interface DeliveryOutcome {
  /** `delivered`, or `failed` (the receiver answered something other than 2xx, or could not be reached). */
  status: 'delivered' | 'failed';
  at: string;
  delivery_id: string;
  event_type: EventType;
  attempt: number;
  /** The receiver's HTTP status, when it answered. */
  http_status: number | null;
  error: string | null;
}

export interface StoredSubscription {
  id: string;
  url: string;
  /** `['*']` for every event type. */
  event_types: string[];
  format: NotificationFormat;
  secret: string;
  created_at: string;
  updated_at: string;
  last_delivery?: DeliveryOutcome;
}

export async function putSubscription(record: StoredSubscription): Promise<void> {
  await dynamo().send(
    new PutCommand({
      TableName: tableName(),
      Item: { ...keys.subscription(record.id), ...keys.subscriptionListing(record.created_at, record.id), ...record },
      ConditionExpression: 'attribute_not_exists(pk)',
    }),
  );
}

export async function getSubscription(id: string, consistent = false): Promise<StoredSubscription | undefined> {
  const { Item } = await dynamo().send(new GetCommand({ TableName: tableName(), Key: keys.subscription(id), ConsistentRead: consistent }));
  return Item ? entityOf<StoredSubscription>(Item) : undefined;
}

export async function listSubscriptions(limit: number, cursor?: string): Promise<Page<StoredSubscription>> {
  const page = await queryIndexPage(indexes.byKind, keys.subscriptionListPk, { limit, ...(cursor ? { cursor: { cursor, listed: listedKeys.subscription } } : {}) });
  return { items: page.items.map((item) => entityOf<StoredSubscription>(item)), next_cursor: page.next_cursor };
}

/** Every subscription, for matching events: a handful in practice, read a page at a time. */
export async function allSubscriptions(): Promise<StoredSubscription[]> {
  const all: StoredSubscription[] = [];
  let startKey: Record<string, unknown> | undefined;
  do {
    const page = await queryIndexPage(indexes.byKind, keys.subscriptionListPk, { limit: 200, ...(startKey ? { startKey } : {}) });
    all.push(...page.items.map((item) => entityOf<StoredSubscription>(item)));
    startKey = page.lastKey;
  } while (startKey);
  return all;
}

/** Replaces what an admin may change; undefined when there is no such subscription. */
export async function updateSubscription(
  id: string,
  change: Pick<StoredSubscription, 'url' | 'event_types' | 'format' | 'updated_at'> & { secret?: string },
): Promise<StoredSubscription | undefined> {
  const result = await resultUnlessConditionFailed(
    dynamo().send(
      new UpdateCommand({
        TableName: tableName(),
        Key: keys.subscription(id),
        UpdateExpression: `SET #url = :url, event_types = :types, #format = :format, updated_at = :at${change.secret ? ', secret = :secret' : ''}`,
        ConditionExpression: 'attribute_exists(pk)',
        ExpressionAttributeNames: { '#url': 'url', '#format': 'format' },
        ExpressionAttributeValues: {
          ':url': change.url,
          ':types': change.event_types,
          ':format': change.format,
          ':at': change.updated_at,
          ...(change.secret ? { ':secret': change.secret } : {}),
        },
        ReturnValues: 'ALL_NEW',
      }),
    ),
  );
  return result?.Attributes ? entityOf<StoredSubscription>(result.Attributes) : undefined;
}

/** False when there was no such subscription. */
export async function deleteSubscription(id: string): Promise<boolean> {
  return conditionally(
    dynamo().send(new DeleteCommand({ TableName: tableName(), Key: keys.subscription(id), ConditionExpression: 'attribute_exists(pk)' })),
  );
}

/**
 * Records a delivery attempt's outcome, unless a later one is recorded already (attempts of
 * different events run in parallel; the newest says whether the receiver works now). A deleted
 * subscription stays deleted.
 */
export async function recordDeliveryOutcome(id: string, outcome: DeliveryOutcome): Promise<void> {
  await conditionally(
    dynamo().send(
      new UpdateCommand({
        TableName: tableName(),
        Key: keys.subscription(id),
        UpdateExpression: 'SET last_delivery = :outcome',
        ConditionExpression: 'attribute_exists(pk) AND (attribute_not_exists(last_delivery) OR last_delivery.#at <= :at)',
        ExpressionAttributeNames: { '#at': 'at' },
        ExpressionAttributeValues: { ':outcome': outcome, ':at': outcome.at },
      }),
    ),
  );
}
