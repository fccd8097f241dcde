/** Update policies. Few per installation, so matching a push lists them all. */
import { DeleteCommand, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { dynamo } from '../aws-clients';
import type { Policy } from '../domain/types';
import { indexes, keys, listedKeys } from './keys';
import { conditionally, entityOf, queryIndexPage, tableName, type Page } from './table';

function item(policy: Policy) {
  return { ...keys.policy(policy.id), ...keys.policyListing(policy.created_at, policy.id), ...policy };
}

export async function putPolicy(policy: Policy, mode: 'create' | 'replace'): Promise<boolean> {
  return conditionally(
    dynamo().send(
      new PutCommand({
        TableName: tableName(),
        Item: item(policy),
        ConditionExpression: mode === 'create' ? 'attribute_not_exists(pk)' : 'attribute_exists(pk)',
      }),
    ),
  );
}

export async function getPolicy(id: string): Promise<Policy | undefined> {
  const { Item } = await dynamo().send(new GetCommand({ TableName: tableName(), Key: keys.policy(id) }));
  return Item ? entityOf<Policy>(Item) : undefined;
}

export async function deletePolicy(id: string): Promise<boolean> {
  const { Attributes } = await dynamo().send(
    new DeleteCommand({ TableName: tableName(), Key: keys.policy(id), ReturnValues: 'ALL_OLD' }),
  );
  return Attributes !== undefined;
}

export async function listPolicies(limit: number, cursor?: string): Promise<Page<Policy>> {
  const page = await queryIndexPage(indexes.byKind, keys.policyListPk, { limit, ...(cursor ? { cursor: { cursor, listed: listedKeys.policy } } : {}) });
  return { items: page.items.map((i) => entityOf<Policy>(i)), next_cursor: page.next_cursor };
}

export async function allPolicies(): Promise<Policy[]> {
  const policies: Policy[] = [];
  let cursor: string | undefined;
  do {
    const page = await listPolicies(100, cursor);
    policies.push(...page.items);
    cursor = page.next_cursor ?? undefined;
  } while (cursor);
  return policies;
}
