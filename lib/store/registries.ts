/**
 * Configured registries. A registry's secret is never stored here as it is: the item holds its
 * SHA-256 (kinds that only compare a token) or the name and version of the Secrets Manager
 * secret that holds it (kinds that need the secret itself for an HMAC); lib/registries/secrets.ts
 * decides which. Pull credentials are kept the same way: the username here, the password in
 * the secret store (lib/registries/pull-credentials.ts). Every change is conditioned on the version read, so two admins changing one
 * registry at once cannot lose either change silently.
 */
import { DeleteCommand, GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { dynamo } from '../aws-clients';
import { indexes, keys, listedKeys } from './keys';
import { conditionally, entityOf, queryIndexPage, resultUnlessConditionFailed, tableName, type Page } from './table';

/** How the registry's secret is kept: its SHA-256 here, or where in the secret store. */
export type StoredSecret = { sha256: string } | { secret_id: string; version_id: string };

/** The username, and where the password is (lib/registries/pull-credentials.ts): never the password. */
export interface StoredPullCredentials {
  username: string;
  secret_id: string;
  version_id: string;
}

export interface StoredRegistry {
  name: string;
  kind: string;
  /** The registry's host, for kinds whose payload names none (and to tell ECR accounts apart). */
  host?: string;
  /** From-host → to-host, keys lower-cased (lib/registry/host-aliases.ts). */
  host_aliases: Record<string, string>;
  rate_limit_per_minute: number;
  /** None for kinds that take no webhooks (ECR). */
  secret?: StoredSecret;
  secret_rotated_at?: string;
  /** The registry API digests are looked up at, when not the one its kind implies. */
  api_url?: string;
  /** What the digest look-up signs in with (a private repository). */
  pull_credentials?: StoredPullCredentials;
  created_at: string;
  updated_at: string;
  created_by: { key_id: string; name: string };
  version: number;
}

/** False when a registry of that name exists. */
export async function putRegistry(record: StoredRegistry): Promise<boolean> {
  return conditionally(
    dynamo().send(
      new PutCommand({
        TableName: tableName(),
        Item: { ...keys.registry(record.name), ...keys.registryListing(record.name), ...record },
        ConditionExpression: 'attribute_not_exists(pk)',
      }),
    ),
  );
}

export async function getRegistry(name: string): Promise<StoredRegistry | undefined> {
  const { Item } = await dynamo().send(new GetCommand({ TableName: tableName(), Key: keys.registry(name), ConsistentRead: true }));
  return Item ? entityOf<StoredRegistry>(Item) : undefined;
}

export async function listRegistries(limit: number, cursor?: string): Promise<Page<StoredRegistry>> {
  const page = await queryIndexPage(indexes.byKind, keys.registryListPk, { limit, ...(cursor ? { cursor: { cursor, listed: listedKeys.registry } } : {}) });
  return { items: page.items.map((item) => entityOf<StoredRegistry>(item)), next_cursor: page.next_cursor };
}

/** Every registry: a handful in practice, read a page at a time. */
export async function allRegistries(): Promise<StoredRegistry[]> {
  const all: StoredRegistry[] = [];
  let startKey: Record<string, unknown> | undefined;
  do {
    const page = await queryIndexPage(indexes.byKind, keys.registryListPk, { limit: 200, ...(startKey ? { startKey } : {}) });
    all.push(...page.items.map((item) => entityOf<StoredRegistry>(item)));
    startKey = page.lastKey;
  } while (startKey);
  return all;
}

export type RegistryChange = Partial<Pick<StoredRegistry, 'host' | 'host_aliases' | 'rate_limit_per_minute' | 'secret' | 'secret_rotated_at' | 'api_url' | 'pull_credentials'>> & {
  /** Fields to drop (a host set back to none). */
  remove?: ('host' | 'api_url' | 'pull_credentials')[];
  updated_at: string;
};

/** Applies the change if the registry is still at `version`; the registry as it is now, or undefined when it moved on or is gone. */
export async function updateRegistry(name: string, version: number, change: RegistryChange): Promise<StoredRegistry | undefined> {
  const { remove = [], ...set } = change;
  const fields = Object.entries(set).filter(([, value]) => value !== undefined);
  const names = Object.fromEntries([...fields.map(([field]) => field), ...remove].map((field) => [`#${field}`, field]));
  const values = Object.fromEntries(fields.map(([field, value]) => [`:${field}`, value]));
  const update =
    `SET ${[...fields.map(([field]) => `#${field} = :${field}`), 'version = version + :one'].join(', ')}` +
    (remove.length > 0 ? ` REMOVE ${remove.map((field) => `#${field}`).join(', ')}` : '');
  const result = await resultUnlessConditionFailed(
    dynamo().send(
      new UpdateCommand({
        TableName: tableName(),
        Key: keys.registry(name),
        UpdateExpression: update,
        ConditionExpression: 'version = :version',
        ...(Object.keys(names).length > 0 ? { ExpressionAttributeNames: names } : {}),
        ExpressionAttributeValues: { ...values, ':version': version, ':one': 1 },
        ReturnValues: 'ALL_NEW',
      }),
    ),
  );
  return result?.Attributes ? entityOf<StoredRegistry>(result.Attributes) : undefined;
}

/** The registry as it was, or undefined when there was none; its rate bucket goes with it. */
export async function deleteRegistry(name: string): Promise<StoredRegistry | undefined> {
  const result = await resultUnlessConditionFailed(
    dynamo().send(new DeleteCommand({ TableName: tableName(), Key: keys.registry(name), ConditionExpression: 'attribute_exists(pk)', ReturnValues: 'ALL_OLD' })),
  );
  if (!result?.Attributes) return undefined;
  // Only the bucket of a registry that was there: a default's (same name, nothing configured) stays.
  await dynamo().send(new DeleteCommand({ TableName: tableName(), Key: keys.rateBucket(name) }));
  return entityOf<StoredRegistry>(result.Attributes);
}
