/**
 * Admin keys. A deployment's configured key is stored by its SHA-256 (the embedded host's own; on
 * AWS the bootstrap key lives in Secrets Manager and is never stored here). A named key, made
 * through the API, is stored by its id with its SHA-256, listed, and holds its name with an item
 * of its own, so that two unrevoked keys never share a name: that item is claimed with a
 * conditional write before the key is written, and released when the key is revoked.
 */
import { DeleteCommand, GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { dynamo } from '../aws-clients';
import { adminKeyIdOf, sha256Hex } from '../secrets';
import { indexes, keys, listedKeys } from './keys';
import { conditionally, entityOf, queryIndexPage, resultUnlessConditionFailed, tableName, type Page } from './table';

/** Who a configured key stored here is, as a principal: one id, whatever its label. */
export const hostKeyId = 'host';

/**
 * Stores a configured admin key's hash; storing the same key twice is harmless. `name` is what
 * the key's principal is called (the embedded host's is `host`).
 */
export async function ensureAdminKey(plainKey: string, name = hostKeyId): Promise<void> {
  // A key of the named shape would be looked up by the id it seems to name, and never found.
  if (adminKeyIdOf(plainKey)) throw new Error('a configured admin key must not look like a named one (fra_<ulid>.<secret>); choose another');
  await dynamo().send(
    new PutCommand({
      TableName: tableName(),
      Item: { ...keys.adminKey(sha256Hex(plainKey)), key_id: hostKeyId, name, created_at: new Date().toISOString() },
    }),
  );
}

/** The principal of a configured key stored here, by the key's hash; undefined when none is. */
export async function getConfiguredAdminKey(hash: string): Promise<{ key_id: string; name: string } | undefined> {
  const { Item } = await dynamo().send(new GetCommand({ TableName: tableName(), Key: keys.adminKey(hash), ConsistentRead: true }));
  if (!Item) return undefined;
  // Items written before keys had principals carry a `label` only.
  return { key_id: String(Item.key_id ?? hostKeyId), name: String(Item.name ?? Item.label ?? hostKeyId) };
}

/** Who made or revoked a named key, as the principal's id and name at the time. */
export interface StoredPrincipal {
  key_id: string;
  name: string;
}

/** A named key as stored: never the key, only its SHA-256. Absent `revoked_at`: not revoked. */
export interface StoredAdminKey {
  id: string;
  name: string;
  key_hash: string;
  created_at: string;
  created_by: StoredPrincipal;
  revoked_at?: string;
  revoked_by?: StoredPrincipal;
}

/** The claim of a name: the key holding it, and since when (a claim whose key never came is stale). */
export interface NameClaim {
  key_id: string;
  claimed_at: string;
}

/** Claims `name` for `keyId`; false when another key holds it (or, given `from`, when not `from` does). */
export async function claimName(name: string, keyId: string, at: string, from?: string): Promise<boolean> {
  return conditionally(
    dynamo().send(
      new PutCommand({
        TableName: tableName(),
        Item: { ...keys.adminKeyName(name), name, key_id: keyId, claimed_at: at },
        ConditionExpression: from === undefined ? 'attribute_not_exists(pk)' : 'key_id = :from',
        ...(from === undefined ? {} : { ExpressionAttributeValues: { ':from': from } }),
      }),
    ),
  );
}

export async function getNameClaim(name: string): Promise<NameClaim | undefined> {
  const { Item } = await dynamo().send(new GetCommand({ TableName: tableName(), Key: keys.adminKeyName(name), ConsistentRead: true }));
  return Item ? { key_id: String(Item.key_id), claimed_at: String(Item.claimed_at) } : undefined;
}

/** Lets go of `name` if `keyId` still holds it. */
export async function releaseName(name: string, keyId: string): Promise<void> {
  await conditionally(
    dynamo().send(
      new DeleteCommand({
        TableName: tableName(),
        Key: keys.adminKeyName(name),
        ConditionExpression: 'key_id = :id',
        ExpressionAttributeValues: { ':id': keyId },
      }),
    ),
  );
}

export async function putNamedAdminKey(record: StoredAdminKey): Promise<void> {
  await dynamo().send(
    new PutCommand({
      TableName: tableName(),
      Item: { ...keys.namedAdminKey(record.id), ...keys.adminKeyListing(record.created_at, record.id), ...record },
      ConditionExpression: 'attribute_not_exists(pk)',
    }),
  );
}

/** Read consistently: a revoke is refused by the very next request, on DynamoDB too. */
export async function getNamedAdminKey(id: string): Promise<StoredAdminKey | undefined> {
  const { Item } = await dynamo().send(new GetCommand({ TableName: tableName(), Key: keys.namedAdminKey(id), ConsistentRead: true }));
  return Item ? entityOf<StoredAdminKey>(Item) : undefined;
}

export async function listNamedAdminKeys(limit: number, cursor?: string): Promise<Page<StoredAdminKey>> {
  const page = await queryIndexPage(indexes.byKind, keys.adminKeyListPk, { limit, ...(cursor ? { cursor: { cursor, listed: listedKeys.adminKey } } : {}) });
  return { items: page.items.map((item) => entityOf<StoredAdminKey>(item)), next_cursor: page.next_cursor };
}

/** Marks the key revoked; the key as it is now (revoked before or by this call), or undefined when there is none. */
export async function revokeNamedAdminKey(id: string, at: string, by: StoredPrincipal): Promise<StoredAdminKey | undefined> {
  const revoked = await resultUnlessConditionFailed(
    dynamo().send(
      new UpdateCommand({
        TableName: tableName(),
        Key: keys.namedAdminKey(id),
        UpdateExpression: 'SET revoked_at = :at, revoked_by = :by',
        ConditionExpression: 'attribute_exists(pk) AND attribute_not_exists(revoked_at)',
        ExpressionAttributeValues: { ':at': at, ':by': by },
        ReturnValues: 'ALL_NEW',
      }),
    ),
  );
  return revoked?.Attributes ? entityOf<StoredAdminKey>(revoked.Attributes) : getNamedAdminKey(id);
}
