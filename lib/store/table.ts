/** Small helpers shared by the store modules: the table name, index pages, condition failures. */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { config, ConfigError } from '../config';
import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { dynamo } from '../aws-clients';
import { decodeCursor, encodeCursor, indexKeyShape } from './cursor';
import { storageAttributes, type Index, type ListedKey } from './keys';

export function tableName(): string {
  const name = config().tableName;
  if (!name) throw new ConfigError('environment variable TABLE_NAME is required but not set');
  return name;
}

export function isConditionFailed(error: unknown): boolean {
  return (
    error instanceof ConditionalCheckFailedException ||
    (error instanceof Error && error.name === 'ConditionalCheckFailedException')
  );
}

/**
 * Runs a conditional write: true when it applied, false when its condition did not hold. Every
 * transition in the store is one of these, so "someone else moved it first" is never an error.
 */
export async function conditionally(write: Promise<object>): Promise<boolean> {
  return (await resultUnlessConditionFailed(write)) !== undefined;
}

/** The write's result (e.g. the attributes it returned), or undefined when its condition did not hold. */
export async function resultUnlessConditionFailed<T extends object>(write: Promise<T>): Promise<T | undefined> {
  try {
    return await write;
  } catch (error) {
    if (isConditionFailed(error)) return undefined;
    throw error;
  }
}

/** Strips the table's key attributes, leaving the entity as the API shows it. */
export function entityOf<T>(item: Record<string, unknown>): T {
  const entity = { ...item };
  for (const name of storageAttributes) delete entity[name];
  return entity as T;
}

export interface IndexPageOptions {
  limit?: number;
  /** An opaque cursor from a previous page, as a client passes it back, and whose key it holds. */
  cursor?: { cursor: string; listed: ListedKey };
  /** Where to go on from, for internal walks that never hand the key to a client. */
  startKey?: Record<string, unknown>;
  newestFirst?: boolean;
  filter?: { expression: string; names: Record<string, string>; values: Record<string, unknown> };
}

/** Filtered listings read on past items the filter drops, up to this many queries a page. */
const maxQueriesPerFilteredPage = 10;

/**
 * One page of one partition of an index, with the cursor of the next page. With a filter, it
 * reads on until the page is full (DynamoDB's Limit counts items before the filter), so that a
 * client does not get empty pages that still have a next cursor.
 */
export async function queryIndexPage(
  index: Index,
  partition: string,
  options: IndexPageOptions = {},
): Promise<{ items: Record<string, unknown>[]; next_cursor: string | null; lastKey?: Record<string, unknown> }> {
  const items: Record<string, unknown>[] = [];
  let startKey: Record<string, unknown> | undefined = options.startKey ?? (options.cursor && decodeCursor(options.cursor.cursor, indexKeyShape(index, partition, options.cursor.listed)));
  for (let query = 0; query < (options.filter ? maxQueriesPerFilteredPage : 1); query++) {
    const result = await dynamo().send(
      new QueryCommand({
        TableName: tableName(),
        IndexName: index.name,
        KeyConditionExpression: '#pk = :pk',
        ExpressionAttributeNames: { '#pk': index.pk, ...options.filter?.names },
        ExpressionAttributeValues: { ':pk': partition, ...options.filter?.values },
        ...(options.filter ? { FilterExpression: options.filter.expression } : {}),
        ScanIndexForward: !options.newestFirst,
        Limit: options.limit === undefined ? undefined : options.limit - items.length,
        ExclusiveStartKey: startKey,
      }),
    );
    items.push(...(result.Items ?? []));
    startKey = result.LastEvaluatedKey;
    if (!startKey || (options.limit !== undefined && items.length >= options.limit)) break;
  }
  return { items, next_cursor: encodeCursor(startKey), ...(startKey ? { lastKey: startKey } : {}) };
}

export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}
