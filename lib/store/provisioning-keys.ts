/**
 * Provisioning keys: stored by id with the key's SHA-256, never the key. A key names its id, so
 * checking it is one read. Uses are counted by a conditional update, so however many devices
 * provision at once, no more than `max_uses` get through.
 */
import { GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { dynamo } from '../aws-clients';
import { indexes, keys, listedKeys } from './keys';
import { conditionally, entityOf, queryIndexPage, resultUnlessConditionFailed, tableName, type Page } from './table';

/**
 * As stored. Absent attributes mean "none" (no expiry, no limit, not revoked), so conditions
 * test `attribute_not_exists`. The expiry is `key_expires_at`: `expires_at` is the table's TTL
 * attribute, which would have DynamoDB delete the item, and the listing with it.
 */
export interface StoredProvisioningKey {
  id: string;
  name: string | null;
  key_hash: string;
  key_expires_at?: string;
  max_uses?: number;
  uses: number;
  created_at: string;
  revoked_at?: string;
}

export async function putProvisioningKey(record: StoredProvisioningKey): Promise<void> {
  await dynamo().send(
    new PutCommand({
      TableName: tableName(),
      Item: { ...keys.provisioningKey(record.id), ...keys.provisioningKeyListing(record.created_at, record.id), ...record },
      ConditionExpression: 'attribute_not_exists(pk)',
    }),
  );
}

export async function getProvisioningKey(id: string, consistent = false): Promise<StoredProvisioningKey | undefined> {
  const { Item } = await dynamo().send(new GetCommand({ TableName: tableName(), Key: keys.provisioningKey(id), ConsistentRead: consistent }));
  return Item ? entityOf<StoredProvisioningKey>(Item) : undefined;
}

export async function listProvisioningKeys(limit: number, cursor?: string): Promise<Page<StoredProvisioningKey>> {
  const page = await queryIndexPage(indexes.byKind, keys.provisioningKeyListPk, { limit, ...(cursor ? { cursor: { cursor, listed: listedKeys.provisioningKey } } : {}) });
  return { items: page.items.map((item) => entityOf<StoredProvisioningKey>(item)), next_cursor: page.next_cursor };
}

/** Counts one use of the key, if it is still usable at `at`; false (nothing written) when it is not. */
export async function consumeUse(id: string, keyHash: string, at: string): Promise<boolean> {
  return conditionally(
    dynamo().send(
      new UpdateCommand({
        TableName: tableName(),
        Key: keys.provisioningKey(id),
        UpdateExpression: 'ADD uses :one',
        ConditionExpression:
          'attribute_exists(pk) AND key_hash = :hash AND attribute_not_exists(revoked_at) AND (attribute_not_exists(max_uses) OR uses < max_uses) AND (attribute_not_exists(key_expires_at) OR key_expires_at > :at)',
        ExpressionAttributeValues: { ':one': 1, ':hash': keyHash, ':at': at },
      }),
    ),
  );
}

/** Gives back a use counted for a registration that then did not happen. */
export async function refundUse(id: string): Promise<void> {
  await conditionally(
    dynamo().send(
      new UpdateCommand({
        TableName: tableName(),
        Key: keys.provisioningKey(id),
        UpdateExpression: 'ADD uses :minus',
        ConditionExpression: 'uses > :zero',
        ExpressionAttributeValues: { ':minus': -1, ':zero': 0 },
      }),
    ),
  );
}

/** Marks the key revoked at `at`; the key as it is now, or undefined when there is no such key. */
export async function revokeProvisioningKey(id: string, at: string): Promise<StoredProvisioningKey | undefined> {
  const revoked = await resultUnlessConditionFailed(
    dynamo().send(
      new UpdateCommand({
        TableName: tableName(),
        Key: keys.provisioningKey(id),
        UpdateExpression: 'SET revoked_at = :at',
        ConditionExpression: 'attribute_exists(pk) AND attribute_not_exists(revoked_at)',
        ExpressionAttributeValues: { ':at': at },
        ReturnValues: 'ALL_NEW',
      }),
    ),
  );
  // Revoked before: revoking again changes nothing.
  return revoked?.Attributes ? entityOf<StoredProvisioningKey>(revoked.Attributes) : getProvisioningKey(id, true);
}
